"""Points whose loss is not yet known: a run still training enters the cross-run fit as its
forecast at its planned end, a median with an interval (numpy only).

Each such point's log loss is drawn, in every bootstrap resample, from the two-piece normal its
forecast implies: median log L, with the lower half a half-normal of scale
σ_low = (log L − log low)/z and the upper half one of scale σ_high = (log high − log L)/z,
z = Φ⁻¹((1 + level)/2), each half carrying probability ½. It reproduces all three numbers the
forecast gives exactly (its median and both interval ends are the distribution's quantiles),
where a normal matched to the interval would move either the median or one end: the forecast's
intervals are skewed (a run's loss can fall further than it can rise; docs/forecast.md), and
log loss, not loss, because the fit's residuals are in log loss. A finished run's point has
σ_low = σ_high = 0: it is drawn as itself.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..forecast.normal import norm_ppf
from ..status import ScalingLawError

__all__ = ["FORECAST_CONFIDENCE", "draw_log_losses", "log_loss_scales"]

# the level of forecast()'s interval (core.forecast: confidence=0.8), the usual source of low/high
FORECAST_CONFIDENCE = 0.8


def log_loss_scales(loss: np.ndarray, loss_low, loss_high, level) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """(σ_low, σ_high) of each point's log loss, 0 for an exact point; None when neither bound is
    given (every point exact). A point with both bounds NaN is exact (a finished run); a
    ScalingLawError names the first point whose bounds are malformed."""
    if loss_low is None and loss_high is None:
        return None
    if loss_low is None or loss_high is None:
        raise ScalingLawError("give loss_low and loss_high together (each point's forecast interval), or neither")
    if isinstance(level, bool) or not isinstance(level, (int, float, np.floating)) or not 0.0 < level < 1.0:
        raise ScalingLawError(f"loss_confidence must be a number strictly between 0 and 1, got {level!r}")
    bounds = []
    for name, x in (("loss_low", loss_low), ("loss_high", loss_high)):
        try:
            a = np.asarray(x, float).ravel()
        except (TypeError, ValueError):
            raise ScalingLawError(f"{name} must be numbers (NaN for a finished run's point)") from None
        if a.size != loss.size:
            raise ScalingLawError(f"{name} must have one value per point: got {a.size} for {loss.size} points")
        bounds.append(a)
    low, high = bounds
    exact = np.isnan(low) & np.isnan(high)
    bad = ~exact & ~(np.isfinite(low) & np.isfinite(high) & (low > 0) & (low <= loss) & (loss <= high))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScalingLawError(
            f"point {i}: its interval [{low[i]!r}, {high[i]!r}] must hold its loss {loss[i]!r}, with "
            f"0 < loss_low <= loss <= loss_high (both NaN for a finished run); {int(bad.sum())} point(s) are malformed")
    z = norm_ppf(0.5 * (1.0 + float(level)))
    with np.errstate(invalid="ignore", divide="ignore"):
        s_low = np.where(exact, 0.0, (np.log(loss) - np.log(low)) / z)
        s_high = np.where(exact, 0.0, (np.log(high) - np.log(loss)) / z)
    return s_low, s_high


def draw_log_losses(logL: np.ndarray, scales, n_draws: int, seed) -> np.ndarray:
    """(n_draws, n): every point's log loss drawn from its two-piece normal (module docstring)."""
    s_low, s_high = scales
    rng = np.random.default_rng(None if seed is None else [int(seed), 28])  # apart from the resampling's stream
    u = rng.standard_normal((int(n_draws), logL.size))
    return logL + u * np.where(u < 0, s_low, s_high)
