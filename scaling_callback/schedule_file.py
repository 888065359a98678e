"""The planned learning-rate schedule of a run, saved beside its TensorBoard event files so that
`scaling-callback forecast LOGDIR` forecasts under the same schedule as the callback did (json
only: the command line reads it without torch).

The file holds the knots the callback forecasts with (steps and the rate at each, linear in
between), the planned end and where the schedule came from.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

SCHEDULE_FILE = "scaling_schedule.json"
FORMAT = "scaling-callback schedule 1"


def write_schedule_file(log_dir: str, *, steps: Sequence[int], lr: Sequence[float], planned_end: int,
                        source: str, monitor: str) -> str:
    """Write (replace) the schedule file in `log_dir`; returns its path."""
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, SCHEDULE_FILE)
    body = {"format": FORMAT, "planned_end": int(planned_end), "source": str(source), "monitor": str(monitor),
            "steps": [int(s) for s in steps], "lr": [float(v) for v in lr]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(body, f)
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def read_schedule_file(log_dir: str) -> Optional[dict]:
    """The schedule saved in `log_dir`, or None when there is none. Raises ValueError when the
    file is there but is not one this package wrote."""
    path = os.path.join(log_dir, SCHEDULE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            body = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable schedule file ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT or len(body.get("steps", ())) != len(body.get("lr", ())):
        raise ValueError(f"{path}: not a schedule file written by scaling-callback")
    return body
