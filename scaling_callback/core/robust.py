"""The Huber loss, once: its value, its IRLS weights, and a robust multi-start least-squares fit.

The forecast (core/forecast/: Huber-IRLS at every grid point) and the cross-run fit
(core/crossrun/: a grid of Huber objectives, then a local fit) both minimise it. Huber loss on
residuals: Hoffmann et al. 2022 App. D.2 fit Huber_δ on log-loss residuals with δ = 1e-3; Luo et
al. 2025 do the same. `scipy.optimize.least_squares(loss="huber",
f_scale=δ)` minimises exactly Σ Huber_δ(r_i): ½r² for |r| ≤ δ, δ|r| − ½δ² beyond.
numpy + scipy only; scipy is imported by `huber_fit` alone (the forecast must start fast).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

# σ = MAD_TO_SIGMA·MAD for normal noise: 1/Φ⁻¹(3/4), the consistency constant of the median
# absolute deviation (Rousseeuw & Croux 1993)
MAD_TO_SIGMA = 1.4826


def huber(r, delta: float):
    """Huber_δ(r) elementwise: ½r² for |r| ≤ δ, δ|r| − ½δ² beyond (Hoffmann et al. 2022 eq. 3)."""
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * ar - 0.5 * delta * delta)


def huber_weights(r, delta: float):
    """The IRLS weights of the Huber loss, min(1, δ/|r|): weighted least squares with them
    has the Huber minimiser as its fixed point."""
    return np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))


@dataclass(frozen=True)
class RobustFit:
    """The best of several bounded robust fits."""

    params: np.ndarray  # best parameter vector
    cost: float  # Σ Huber_δ(residual) at params (plus any prior terms the residuals carry)
    residuals: np.ndarray  # residual vector at params
    jac: np.ndarray  # Jacobian of the residuals at params
    n_starts: int  # starts tried
    n_converged: int  # starts whose optimiser reported success


def huber_fit(
    residuals: Callable[[np.ndarray], np.ndarray],
    starts: Iterable[Sequence[float]],
    lower: Sequence[float],
    upper: Sequence[float],
    delta: float = 1e-3,
    max_nfev: Optional[int] = None,
    loss: str = "huber",
) -> Optional[RobustFit]:
    """Minimise Σ Huber_δ(residuals(p)) within bounds from every start; return the best.

    Starts are clipped inside the bounds. Returns None when no start produced a finite cost
    (the caller turns that into a reason, never an exception in a training loop).
    """
    from scipy.optimize import least_squares

    lo = np.asarray(lower, float)
    hi = np.asarray(upper, float)
    span = hi - lo
    eps = np.where(np.isfinite(span), 1e-9 * np.maximum(span, 1.0), 1e-9)
    best = None
    tried = converged = 0
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, float), lo + eps, hi - eps)
        tried += 1
        try:
            with np.errstate(all="ignore"):
                r = least_squares(residuals, x0, bounds=(lo, hi), loss=loss, f_scale=delta,
                                  max_nfev=max_nfev, x_scale="jac")
        except (ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if not np.isfinite(r.cost):
            continue
        converged += bool(r.success)
        if best is None or r.cost < best.cost:
            best = r
    if best is None:
        return None
    return RobustFit(best.x, float(best.cost), best.fun, best.jac, tried, converged)
