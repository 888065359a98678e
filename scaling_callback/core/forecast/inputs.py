"""The history and the planned schedule as the fit needs them: cleaned, thinned, normalised."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..checks import curve_arrays
from ..schedules import normalized_schedule

MAX_STEP = 2 ** 53  # the largest whole number a float64 holds exactly; steps beyond it cannot be told apart
MAX_POINTS = 400  # longer histories are averaged down to this many points (bounded time)
POOL_BEYOND_STEPS = 1 << 18  # a schedule to a horizon this far or further is pooled in blocks (bounded time, memory)
BLOCK_MEAN_POINTS = 4  # a block of knots' piecewise-linear rate is averaged from this many midpoints


def _knots_schedule(lr, horizon: int, stride: int, notes: list) -> np.ndarray:
    """η from (knot_steps, knot_rates), linear between knots and held flat beyond them."""
    ks, kv = (np.asarray(v, float).ravel() for v in lr)
    if len(ks) != len(kv):
        raise ValueError(f"{len(ks)} knot steps but {len(kv)} rates")
    good = np.isfinite(ks) & np.isfinite(kv)
    ks, kv = ks[good], kv[good]
    if len(ks) == 0:
        raise ValueError("no finite (step, lr) knot")
    order = np.argsort(ks, kind="stable")
    ks, kv = ks[order], kv[order]
    if ks[-1] < horizon:
        notes.append(f"learning-rate schedule ends at step {int(ks[-1])}: held at its last value to {horizon}")
    if stride > 1:  # the mean over each block of a piecewise-linear rate, from BLOCK_MEAN_POINTS a block
        start = np.arange(0, horizon + 1, stride, dtype=float)
        sub = start[:, None] + (np.arange(BLOCK_MEAN_POINTS) + 0.5)[None, :] * (stride / BLOCK_MEAN_POINTS) - 0.5
        return normalized_schedule(np.interp(sub, ks, kv).mean(axis=1))
    return normalized_schedule(np.interp(np.arange(horizon + 1, dtype=float), ks, kv))


def _per_step_schedule(lr, horizon: int, stride: int, notes: list) -> np.ndarray:
    """η from a rate at every step (non-finite ones interpolated), pooled in blocks of `stride`."""
    per_step = np.asarray(lr, float).ravel()
    if len(per_step) == 0:
        raise ValueError("empty schedule")
    if len(per_step) < horizon + 1:
        notes.append(f"learning-rate schedule has {len(per_step)} steps: held at its last value to {horizon}")
    per_step = per_step[: horizon + 1]
    bad = ~np.isfinite(per_step)
    if bad.all():
        raise ValueError("no finite learning rate")
    if bad.any():
        idx = np.arange(len(per_step))
        per_step = np.interp(idx, idx[~bad], per_step[~bad])
    # pool what was given, then hold its last value for the blocks (or steps) beyond it:
    # a short array is never padded out to the target step (1e9 steps would be 7.5 GiB)
    blocks, last = -(-(horizon + 1) // stride), per_step[-1]
    if stride > 1:  # block means, without copying a long array: whole blocks as a view
        whole = len(per_step) - len(per_step) % stride
        tail = per_step[whole:]
        per_step = np.concatenate([per_step[:whole].reshape(-1, stride).mean(axis=1),
                                   [(tail.sum() + (stride - len(tail)) * last) / stride] if len(tail) else []])
    per_step = np.concatenate([per_step, np.full(blocks - len(per_step), last)])
    return normalized_schedule(per_step)


def planned_schedule(lr, horizon: int, stride: int, notes: list) -> Optional[np.ndarray]:
    """η at every step 0..horizon from `lr` (per-step array or (steps, values) knots), or None;
    with stride > 1 the mean of each block of `stride` steps instead."""
    if lr is None:
        notes.append("no learning-rate schedule given: assumed constant (plain power law in steps)")
        return None
    try:
        if isinstance(lr, tuple) and len(lr) == 2:
            return _knots_schedule(lr, horizon, stride, notes)
        return _per_step_schedule(lr, horizon, stride, notes)
    except (TypeError, ValueError) as exc:
        notes.append(f"learning-rate schedule unusable ({exc}): assumed constant")
        return None


def pooled_schedule(lr, target: int, last_step: int, notes: list):
    """(η, stride, horizon): the planned rate to the horizon max(target, last_step), pooled into
    blocks of `stride` steps from POOL_BEYOND_STEPS on (`planned_schedule`), constant without a
    usable schedule (`planned_schedule` notes why)."""
    horizon = int(max(target, last_step))
    stride = 1 if horizon < POOL_BEYOND_STEPS else -(-horizon // POOL_BEYOND_STEPS)
    eta = planned_schedule(lr, horizon, stride, notes)
    return (np.ones(-(-(horizon + 1) // stride)) if eta is None else eta), stride, horizon


def clean_history(steps, losses):
    """(steps, losses, n_skipped): the finite points with a positive loss, sorted by step, one
    per whole step (the mean of repeats); a ValueError for steps beyond MAX_STEP."""
    s, y = curve_arrays(steps, losses, "losses")
    too_far = np.isfinite(s) & (s > MAX_STEP)
    if np.any(too_far):
        raise ValueError(f"step {s[too_far][0]:.4g} is beyond 2^53 ≈ 9.0e15, the largest step a forecast "
                         "handles (a float cannot hold larger step numbers exactly)")
    good = np.isfinite(s) & np.isfinite(y) & (y > 0) & (s >= 0)
    s, y = s[good], y[good]
    order = np.argsort(s, kind="stable")
    s, y = np.rint(s[order]).astype(np.int64), y[order]
    if len(s):  # one point per step: the mean of repeats
        uniq, inv = np.unique(s, return_inverse=True)
        y = np.bincount(inv, y) / np.bincount(inv)
        s = uniq
    return s, y, int(np.sum(~good))


def thinned(s, y, max_points):
    """Average consecutive points into at most max_points groups (keeps time bounded)."""
    if len(s) <= max_points:
        return s, y
    group = (np.arange(len(s)) * max_points) // len(s)
    counts = np.bincount(group)
    return (np.rint(np.bincount(group, s) / counts).astype(np.int64), np.bincount(group, y) / counts)
