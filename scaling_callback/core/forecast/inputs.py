"""The history and the planned schedule as the fit needs them: cleaned, thinned, normalised."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..checks import curve_arrays
from ..laws import normalized_schedule


def _schedule(lr, horizon: int, stride: int, notes: list) -> Optional[np.ndarray]:
    """η at every step 0..horizon from `lr` (per-step array or (steps, values) knots), or None;
    with stride > 1 the mean of each block of `stride` steps instead."""
    if lr is None:
        notes.append("no learning-rate schedule given: assumed constant (plain power law in steps)")
        return None
    try:
        if isinstance(lr, tuple) and len(lr) == 2:
            ks, kv = (np.asarray(v, float).ravel() for v in lr)
            good = np.isfinite(ks) & np.isfinite(kv)
            ks, kv = ks[good], kv[good]
            if len(ks) == 0:
                raise ValueError("no finite (step, lr) knot")
            order = np.argsort(ks, kind="stable")
            ks, kv = ks[order], kv[order]
            if ks[-1] < horizon:
                notes.append(f"learning-rate schedule ends at step {int(ks[-1])}: held at its last value to {horizon}")
            if stride > 1:  # the mean over each block of a piecewise-linear rate, from 4 points a block
                start = np.arange(0, horizon + 1, stride, dtype=float)
                sub = start[:, None] + (np.arange(4) + 0.5)[None, :] * (stride / 4.0) - 0.5
                return normalized_schedule(np.interp(sub, ks, kv).mean(axis=1))
            per_step = np.interp(np.arange(horizon + 1, dtype=float), ks, kv)
        else:
            per_step = np.asarray(lr, float).ravel()
            if len(per_step) == 0:
                raise ValueError("empty schedule")
            if len(per_step) < horizon + 1:
                notes.append(f"learning-rate schedule has {len(per_step)} steps: held at its last value to {horizon}")
                per_step = np.concatenate([per_step, np.full(horizon + 1 - len(per_step), per_step[-1])])
            per_step = per_step[: horizon + 1]
            bad = ~np.isfinite(per_step)
            if bad.all():
                raise ValueError("no finite learning rate")
            if bad.any():
                idx = np.arange(len(per_step))
                per_step = np.interp(idx, idx[~bad], per_step[~bad])
            if stride > 1:
                pad = (-len(per_step)) % stride
                per_step = np.concatenate([per_step, np.full(pad, per_step[-1])]).reshape(-1, stride).mean(axis=1)
        return normalized_schedule(per_step)
    except (TypeError, ValueError) as exc:
        notes.append(f"learning-rate schedule unusable ({exc}): assumed constant")
        return None


def _clean(steps, losses):
    s, y = curve_arrays(steps, losses, "losses")
    good = np.isfinite(s) & np.isfinite(y) & (y > 0) & (s >= 0)
    s, y = s[good], y[good]
    order = np.argsort(s, kind="stable")
    s, y = np.rint(s[order]).astype(np.int64), y[order]
    if len(s):  # one point per step: the mean of repeats
        uniq, inv = np.unique(s, return_inverse=True)
        y = np.bincount(inv, y) / np.bincount(inv)
        s = uniq
    return s, y, int(np.sum(~good))


def _thin(s, y, max_points):
    """Average consecutive points into at most max_points groups (keeps time bounded)."""
    if len(s) <= max_points:
        return s, y
    group = (np.arange(len(s)) * max_points) // len(s)
    counts = np.bincount(group)
    return (np.rint(np.bincount(group, s) / counts).astype(np.int64), np.bincount(group, y) / counts)
