"""The planned run a forecast aims at: its last step and its learning rate (numpy only).

- `planned_end_step`: the step a Lightning Trainer will stop at, from its plain settings.
- `horizon_steps`: user-given forecast horizons (steps or tokens) still ahead of the run.
- `compress_schedule` / `schedule_before`: a per-step learning-rate schedule as a few linear
  knots (what the forecast takes, and what a checkpoint stores), and its part before a step.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import numpy as np

HORIZON_UNITS = ("steps", "tokens")


def _finite_positive_int(value) -> Optional[int]:
    """value as an int when it is a finite whole number > 0, else None (-1, None, inf mean "no limit")."""
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return int(value)


def planned_end_step(max_steps, max_epochs, batches_per_epoch, accumulate_grad_batches: int = 1) -> Optional[int]:
    """The optimizer step the run will stop at, or None when no limit is finite.

    Lightning stops at `max_steps` optimizer steps or after `max_epochs` epochs, whichever comes
    first (-1 or None: no limit). An epoch of `batches_per_epoch` micro-batches (per rank, after
    `limit_train_batches`) takes ceil(batches_per_epoch / accumulate_grad_batches) optimizer steps:
    the last, partial accumulation of an epoch steps too. An epoch limit with a dataloader of
    unknown length (inf) gives no end.
    """
    accumulate = _finite_positive_int(accumulate_grad_batches)
    if accumulate is None:
        raise ValueError(f"accumulate_grad_batches must be a positive integer, got {accumulate_grad_batches!r}")
    ends = []
    steps = _finite_positive_int(max_steps)
    if steps is not None:
        ends.append(steps)
    epochs = _finite_positive_int(max_epochs)
    per_epoch = _finite_positive_int(batches_per_epoch)
    if epochs is not None and per_epoch is not None:
        ends.append(epochs * -(-per_epoch // accumulate))
    return min(ends) if ends else None


def horizon_steps(horizons: Sequence[float], unit: str, *, step: int, tokens: float) -> Tuple[int, ...]:
    """The horizons still ahead of `step`, as optimizer steps, sorted.

    unit="steps": the horizons are steps. unit="tokens": they are training tokens, converted at
    the run's average tokens per optimizer step so far (tokens / step); none can be converted
    before the first step.
    """
    if unit not in HORIZON_UNITS:
        raise ValueError(f"horizon unit must be one of {HORIZON_UNITS}, got {unit!r}")
    values = np.asarray(horizons, dtype=float).ravel()
    if unit == "tokens":
        if step <= 0 or not tokens > 0:
            return ()
        values = values / (float(tokens) / step)
    ahead = np.ceil(values[values > step])
    return tuple(sorted({int(v) for v in ahead}))


def check_horizons(horizons, unit: str) -> Optional[Tuple[float, ...]]:
    """Validated horizons (positive finite numbers) as a sorted tuple, or None."""
    if horizons is None:
        return None
    if unit not in HORIZON_UNITS:
        raise ValueError(f"horizon_unit must be one of {HORIZON_UNITS}, got {unit!r}")
    try:
        values = np.asarray(horizons if not np.isscalar(horizons) else [horizons], dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"horizons must be numbers of {unit}, got {horizons!r}") from None
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"horizons must be one or more finite positive numbers of {unit}, got {horizons!r}")
    return tuple(sorted(float(v) for v in values))


def compress_schedule(steps, lr, rel_tol: float = 1e-5) -> Tuple[np.ndarray, np.ndarray]:
    """Knots (knot_steps, knot_lr) whose linear interpolation is within rel_tol·max(lr) of `lr`
    at every step: exact for piecewise-linear schedules (constant, linear warm-up and decay,
    step drops need two knots each), a few hundred knots for a cosine over any length.

    Greedy "fan" algorithm, one pass: a segment from its start knot is extended while some slope
    keeps every point so far within the tolerance; the segment's end value is on that line, so
    the error bound holds at every step and never accumulates. The first step is a knot with its
    exact value, the last a knot within the tolerance.
    """
    s = np.asarray(steps, dtype=np.int64).ravel()
    v = np.asarray(lr, dtype=float).ravel()
    if s.size != v.size or s.size == 0:
        raise ValueError(f"steps and lr must be non-empty and equal in length ({s.size} vs {v.size})")
    if s.size > 1 and not np.all(np.diff(s) > 0):
        raise ValueError("steps must be strictly increasing")
    if not np.all(np.isfinite(v)):
        raise ValueError("lr must be finite")
    tol = rel_tol * float(np.max(np.abs(v))) if v.size else 0.0
    knot_s, knot_v = [int(s[0])], [float(v[0])]
    x0, y0 = float(s[0]), float(v[0])
    lo, hi = -math.inf, math.inf
    prev_x = None
    xs, ys = s.tolist(), v.tolist()
    for x, y in zip(xs[1:], ys[1:]):
        dx = x - x0
        new_lo, new_hi = max(lo, (y - tol - y0) / dx), min(hi, (y + tol - y0) / dx)
        if new_lo <= new_hi:
            lo, hi, prev_x = new_lo, new_hi, x
            continue
        # close the segment at the previous step, on a line through all its points
        slope = 0.5 * (lo + hi)
        prev_line = y0 + slope * (prev_x - x0)
        knot_s.append(int(prev_x))
        knot_v.append(prev_line)
        x0, y0 = float(prev_x), prev_line
        dx = x - x0
        lo, hi, prev_x = (y - tol - y0) / dx, (y + tol - y0) / dx, x
    if len(xs) > 1:
        knot_s.append(int(prev_x))
        knot_v.append(y0 + 0.5 * (lo + hi) * (prev_x - x0))
    return np.asarray(knot_s, dtype=np.int64), np.asarray(knot_v, dtype=float)


def schedule_before(knot_steps, knot_lr, step: int) -> Tuple[np.ndarray, np.ndarray]:
    """The knots strictly before `step` (a schedule's past, to join with one simulated from `step`)."""
    ks = np.asarray(knot_steps, dtype=np.int64)
    keep = ks < step
    return ks[keep], np.asarray(knot_lr, dtype=float)[keep]
