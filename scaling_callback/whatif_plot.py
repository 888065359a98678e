"""The what-if figure (matplotlib, imported only when drawn): the forecast final loss of each
cool-down start against the compute it spends, with its interval, and the realised losses of
branches that ran, where known (`scaling-callback whatif --plot`, benchmarks/whatif_accuracy.py)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


def plot_whatif(options, path: str, *, compute_per_step: Optional[float] = None, title: str = "",
                realised: Optional[Sequence[tuple]] = None, reference=None, confidence: float = 0.8) -> None:
    """Write to `path` the forecast final loss of each `options` (CooldownOption: start, end,
    loss, low, high) against its compute (its end step, times `compute_per_step` when given),
    with the `reference` (the planned run) as a line and `realised` (end step, final loss)
    pairs as crosses."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    scale = 1.0 if compute_per_step is None else float(compute_per_step)
    fig = Figure(figsize=(6.4, 4.0), dpi=150)
    ax = fig.add_subplot()
    ends = np.array([o.end for o in options], float) * scale
    loss = np.array([o.loss for o in options], float)
    low, high = np.array([o.low for o in options], float), np.array([o.high for o in options], float)
    ax.errorbar(ends, loss, yerr=[loss - low, high - loss], fmt="o", capsize=3,
                label=f"forecast, cool-down starting at each step ({confidence:.0%} interval)")
    for o, x, y in zip(options, ends, loss):
        ax.annotate(f"{o.start}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if reference is not None and np.isfinite(reference.loss):
        ax.axhline(reference.loss, color="grey", linestyle="--", linewidth=1, label="forecast of the planned run")
    if realised:
        rx, ry = np.array([r[0] for r in realised], float) * scale, np.array([r[1] for r in realised], float)
        ax.plot(rx, ry, "x", color="black", markersize=8, label="realised final loss of the branch that ran")
    ax.set_xlabel("compute (FLOPs)" if compute_per_step is not None else "steps at the end of the cool-down (∝ compute)")
    ax.set_ylabel("final validation loss")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
