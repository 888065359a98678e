"""Read scalar series back from TensorBoard event files (tensorboard only; no torch)."""
from __future__ import annotations

import os
from typing import Dict, Iterable, Optional, Tuple

import numpy as np


def read_scalars(logdir: str, tags: Optional[Iterable[str]] = None) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Every scalar series under `logdir` (searched recursively) as {tag: (steps, values)}.

    All points are kept (EventAccumulator samples 10,000 per tag unless told otherwise). Where
    several event files (a resumed run, several versions) hold the same tag, their points are
    merged and sorted by step; a step written twice keeps the value written last.
    Raises FileNotFoundError when `logdir` holds no event file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = []
    for root, _, names in os.walk(logdir):
        files += [os.path.join(root, n) for n in names if "tfevents" in n]
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file under {logdir!r}")
    wanted = None if tags is None else set(tags)
    points: Dict[str, Dict[int, Tuple[float, float]]] = {}
    for path in files:
        acc = EventAccumulator(path, size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if wanted is not None and tag not in wanted:
                continue
            series = points.setdefault(tag, {})
            for ev in acc.Scalars(tag):
                old = series.get(ev.step)
                if old is None or ev.wall_time >= old[0]:
                    series[ev.step] = (ev.wall_time, ev.value)
    out = {}
    for tag, series in points.items():
        steps = np.array(sorted(series), dtype=np.int64)
        out[tag] = (steps, np.array([series[s][1] for s in steps], dtype=float))
    return out
