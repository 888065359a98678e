"""Has the validation loss turned up? The rule both the forecast (its rising law) and the advice
use, so that they agree: a running median risen above its best by more than the curve's own
noise, while the loss should fall (numpy only)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from .checks import increasing_curve
from .formatting import format_number
from .robust import MAD_TO_SIGMA
from .schedules import rate_rose


def robust_noise(values) -> float:
    """Point-to-point noise σ of a curve, robust to its trend and to outliers.

    For independent noise of standard deviation σ the second differences v[i+1] − 2v[i] + v[i−1]
    have standard deviation √6·σ, while a smooth trend (even a curving one) leaves them near a
    constant; so σ ≈ 1.4826·MAD(second differences)/√6 (MAD = median absolute deviation from
    their median). Plain first differences would count a changing slope as noise.
    Needs at least 3 finite values; returns nan otherwise.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 3:
        return float("nan")
    d2 = np.diff(v, n=2)
    mad = np.median(np.abs(d2 - np.median(d2)))
    return float(MAD_TO_SIGMA * mad / math.sqrt(6.0))


@dataclass(frozen=True)
class OverfittingAdvice:
    """Whether the validation loss is rising above its best by more than its noise."""

    topic: ClassVar[str] = "Overfitting"
    overfitting: bool
    best_step: Optional[int]  # step of the lowest validation loss
    best_loss: float  # lowest validation loss
    current_loss: float  # running median of the last `window` validation losses
    rise: float  # current running median − lowest running median
    noise: float  # robust point-to-point noise σ of the validation loss (`robust_noise`)
    threshold: float  # max(k_sigma·noise, min_rise): the rise that counts
    since_step: Optional[int]  # first step from which the running median stayed above best + threshold
    basis: str  # what said whether the loss should fall: "train loss", "forecast", "learning rate" or "validation only"
    n_skipped: int  # non-finite validation losses ignored
    warning: bool  # == overfitting
    message: str


def running_median(v: np.ndarray, window: int) -> np.ndarray:
    """Trailing running median: out[i] = median(v[i−window+1 .. i]) for i ≥ window − 1."""
    windows = np.lib.stride_tricks.sliding_window_view(v, window)
    return np.median(windows, axis=1)


def observed_overfitting(
    steps,
    val_loss,
    *,
    train_steps=None,
    train_loss=None,
    forecast_steps=None,
    forecast_loss=None,
    k_sigma: float = 3.0,
    min_rise: float = 1e-3,
    window: int = 5,
    lr_steps=None,
    lr=None,
) -> OverfittingAdvice:
    """Is the validation loss rising above its best by more than its noise while it should fall?

    The level of the validation curve is its trailing running median over `window` points (one
    noisy point or spike is not a trend). The rise is the current level minus the lowest level
    so far; it counts when it exceeds max(k_sigma·σ, min_rise), σ being the curve's own robust
    point-to-point noise (`robust_noise`). A rise is called overfitting only when the loss
    "should fall": the train loss after the best validation step is still falling (the median of
    the later half of those train points is below the median of the earlier half), or, without
    a train loss, a given forecast curve (`forecast_steps`, `forecast_loss`) predicts a lower
    loss at the current step than at the best step. When the train loss rises too, the rise is
    reported as instability, not overfitting. With neither, the validation curve decides alone
    (`basis` = "validation only"). Non-finite validation losses are skipped and counted.
    `since_step` is the first validation step from which the running median stayed above
    best + threshold up to now. With the planned learning rate (`lr_steps`, `lr`: lr[k] is the rate
    at step lr_steps[k]), a rise while the rate rose since the best step (`schedules.rate_rose`: a
    restart) is the schedule's doing: not overfitting (`basis` = "learning rate").
    """
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if k_sigma < 0 or min_rise < 0:
        raise ValueError("k_sigma and min_rise must be non-negative")
    s, v, skipped = increasing_curve("validation loss", steps, val_loss, drop_nonfinite=True)
    n_needed = window + 3
    if v.size < n_needed:
        msg = (f"{v.size} finite validation points: too few (need {n_needed}) to tell a rising "
               f"validation loss from its noise.")
        best = float(np.min(v)) if v.size else float("nan")
        best_step = int(s[np.argmin(v)]) if v.size else None
        cur = float(v[-1]) if v.size else float("nan")
        return OverfittingAdvice(False, best_step, best, cur, float("nan"), float("nan"), float("nan"),
                                 None, "validation only", skipped, False, msg)
    noise = robust_noise(v)
    threshold = max(k_sigma * noise, min_rise)
    level = running_median(v, window)  # level[j] describes step s[j + window − 1]
    level_steps = s[window - 1:]
    best_i = int(np.argmin(v))
    best_step, best_loss = int(s[best_i]), float(v[best_i])
    best_level = float(np.min(level))
    current = float(level[-1])
    rise = current - best_level
    rising = rise > threshold
    since = None
    if rising:
        below = np.nonzero(level <= best_level + threshold)[0]
        since = int(level_steps[below[-1] + 1])

    basis = "validation only"
    should_fall = True
    train_rising = False
    # the rise is the level's, so the schedule is asked from the step of the level's best on
    if lr_steps is not None and lr is not None and rate_rose(lr_steps, lr, level_steps[int(np.argmin(level))], s[-1]):
        basis, should_fall = "learning rate", False
    elif train_loss is not None:
        ts, tv, _ = increasing_curve("train loss", train_steps, train_loss, drop_nonfinite=True)
        after = tv[ts >= best_step]
        if after.size >= 2:
            basis = "train loss"
            half = after.size // 2
            early, late = float(np.median(after[:half])), float(np.median(after[half:]))
            should_fall = late < early
            train_rising = late > early
    if basis == "validation only" and forecast_loss is not None:
        fs, fv, _ = increasing_curve("forecast", forecast_steps, forecast_loss, drop_nonfinite=False)
        if fs.size >= 2:
            basis = "forecast"
            now = float(s[-1])
            should_fall = float(np.interp(now, fs, fv)) < float(np.interp(best_step, fs, fv))

    overfitting = bool(rising and should_fall)
    rise_words = (f"the validation loss has risen {format_number(rise)} above its best {format_number(best_loss)} "
                  f"(step {best_step}), more than its noise allows ({format_number(threshold)} = "
                  f"max({k_sigma:g}σ, {min_rise:g}), σ = {format_number(noise)})")
    if overfitting:
        why = {"train loss": "while the train loss keeps falling",
               "forecast": "while the forecast says it should fall",
               "validation only": "(no train loss or forecast to compare with)"}[basis]
        msg = f"Overfitting since step {since}: {rise_words} {why}."
    elif rising and basis == "learning rate":
        msg = (f"Validation loss rising but not called overfitting: {rise_words}, while the planned "
               f"learning rate rose since then (a restart): the rise is the schedule's.")
    elif rising and train_rising:
        msg = (f"Not overfitting but unstable: {rise_words}, and the train loss rose too since "
               f"step {best_step}.")
    elif rising:
        msg = (f"Validation loss rising but not called overfitting: {rise_words}, while the "
               f"{basis} does not predict a fall either.")
    else:
        msg = (f"No overfitting seen: the validation loss is within {format_number(threshold)} of its best "
               f"level (best {format_number(best_loss)} at step {best_step}, noise σ = {format_number(noise)}).")
    if skipped:
        msg = msg[:-1] + f"; {skipped} non-finite validation losses were skipped."
    return OverfittingAdvice(overfitting, best_step, best_loss, current, rise, noise, threshold,
                             since, basis, skipped, overfitting, msg)
