"""The Huber loss, once: its value, its IRLS weights, a robust multi-start least-squares fit
(`huber_fit`, scipy) and many bounded fits solved together (`huber_newton`, numpy).

The forecast (core/forecast/: Huber-IRLS at every grid point) and the cross-run fit
(core/crossrun/: a grid of Huber objectives, then `huber_newton` from the best starts and for
every bootstrap resample at once) both minimise it. Huber loss on residuals: Hoffmann et al.
2022 App. D.2 fit Huber_δ on log-loss residuals with δ = 1e-3; Luo et al. 2025 do the same.
`scipy.optimize.least_squares(loss="huber", f_scale=δ)` minimises exactly Σ Huber_δ(r_i): ½r²
for |r| ≤ δ, δ|r| − ½δ² beyond, as does `huber_newton`.
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
    jac=None,
) -> Optional[RobustFit]:
    """Minimise Σ Huber_δ(residuals(p)) within bounds from every start; return the best.

    jac: a callable giving the residuals' Jacobian (n, k) at p; None: scipy's 2-point
    differences. Starts are clipped inside the bounds. Returns None when no start produced a
    finite cost (the caller turns that into a reason, never an exception in a training loop).
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
                r = least_squares(residuals, x0, jac="2-point" if jac is None else jac, bounds=(lo, hi),
                                  loss=loss, f_scale=delta, max_nfev=max_nfev, x_scale="jac")
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


# huber_newton's damping λ starts at LAMBDA_START, shrinks ×1/3 after a step that lowers the cost
# and grows ×4 after one that does not (Nielsen 1999's factors, rounded). A problem stops when a
# step lowers its cost by less than FTOL relatively or moves no parameter by more than XTOL
# relatively (both near double rounding, so that fits from different starts agree to rounding),
# when λ passes LAMBDA_MAX (no step lowers the cost: a minimum to rounding), or after max_iter steps.
LAMBDA_START, LAMBDA_DOWN, LAMBDA_UP, LAMBDA_MAX = 1e-3, 1.0 / 3.0, 4.0, 1e12
FTOL, XTOL = 1e-15, 1e-10
OUTSIDE_RESIDUAL = 1e3  # a non-finite residual (a point outside the model's domain): far, not nan


@dataclass(frozen=True)
class BatchFit:
    """Many bounded Huber fits solved together (huber_newton)."""

    params: np.ndarray  # (m, k) where each problem stopped
    cost: np.ndarray  # (m,) Σ Huber_δ(residual) there; inf where the start was not a finite point
    converged: np.ndarray  # (m,) bool: stopped by FTOL, XTOL or LAMBDA_MAX, not by max_iter


def finite_model(model, x, rows):
    """model(x, rows) with non-finite residuals replaced by a far constant, OUTSIDE_RESIDUAL, with
    zero derivative."""
    with np.errstate(all="ignore"):
        r, jac = model(x, rows)
    bad = ~np.isfinite(r)
    if bad.any() or not np.isfinite(jac).all():
        jac = np.where(bad[:, None, :] | ~np.isfinite(jac), 0.0, jac)
        r = np.where(bad, OUTSIDE_RESIDUAL, r)
    return r, jac


def _damped_step(r, jac, x, lam, lo, hi, delta, damping):
    """The Levenberg–Marquardt step of Σ Huber_δ(r): Gauss–Newton curvature of the residuals within
    δ, damped by λ times the IRLS curvature (all of it, or its diagonal: see huber_newton), which
    is positive even when no residual is within δ; a parameter at a bound that the gradient
    pushes out of stays there."""
    k = x.shape[1]
    grad = np.matmul(jac, np.clip(r, -delta, delta)[..., None])[..., 0]
    hess = np.matmul(jac * (np.abs(r) <= delta)[:, None, :], jac.transpose(0, 2, 1))
    if damping == "irls":
        irls = np.matmul(jac * huber_weights(r, delta)[:, None, :], jac.transpose(0, 2, 1))
        scale = np.diagonal(irls, axis1=1, axis2=2)
        hess += lam[:, None, None] * (irls - scale[:, :, None] * np.eye(k))
    else:
        scale = np.matmul(jac * jac, huber_weights(r, delta)[..., None])[..., 0]
    scale = np.maximum(scale, 1e-12 * scale.max(axis=1, keepdims=True) + 1e-300)
    free = ~(((x <= lo) & (grad > 0)) | ((x >= hi) & (grad < 0)))
    hess *= free[:, :, None] & free[:, None, :]
    hess += np.where(free, lam[:, None] * scale, 1.0)[:, :, None] * np.eye(k)
    with np.errstate(all="ignore"):
        try:
            step = -np.linalg.solve(hess, (grad * free)[..., None])[..., 0]
        except np.linalg.LinAlgError:  # one problem's matrix exactly singular: the pseudo-inverse for all
            step = -np.matmul(np.linalg.pinv(hess), (grad * free)[..., None])[..., 0]
    return np.where(np.isfinite(step), step, 0.0)


def huber_newton(model, starts, lower, upper, delta: float = 1e-3, max_iter: int = 500,
                 damping: str = "marquardt") -> BatchFit:
    """Minimise Σ_i Huber_δ(r_i(p)) within bounds for m problems at once (one numpy pass a step).

    model(x, rows) -> (r, jac): the residuals (len(rows), n) and their derivatives
    (len(rows), k, n: parameters before points) of problems `rows` (indices into the batch, so
    each problem may have its own data) at parameters x (len(rows), k). starts: (m, k), clipped
    into the bounds. A bounded Levenberg–Marquardt method (_damped_step), each problem with its
    own damping λ; a problem leaves the working arrays when it stops.

    damping "marquardt": λ times the diagonal of the IRLS curvature Σ min(1, δ/|r|)·∇r∇rᵀ (the
    usual scaling); "irls": λ times all of it, which follows valleys where parameters trade off
    against each other, far better on some problems and far worse on others (the cross-run fit
    measured both: crossrun/search.py).
    """
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    params = np.clip(np.array(starts, float), lo, hi)
    out_cost, converged = np.full(len(params), np.inf), np.zeros(len(params), bool)
    r, jac = finite_model(model, params, np.arange(len(params)))
    cost = huber(r, delta).sum(axis=1)
    rows = np.flatnonzero(np.isfinite(cost) & np.isfinite(params).all(axis=1))
    x, r, jac, cost, lam = params[rows], r[rows], jac[rows], cost[rows], np.full(rows.size, LAMBDA_START)
    for _ in range(max_iter):
        if rows.size == 0:
            break
        trial = np.clip(x + _damped_step(r, jac, x, lam, lo, hi, delta, damping), lo, hi)
        r_new, jac_new = finite_model(model, trial, rows)
        cost_new = huber(r_new, delta).sum(axis=1)
        better = cost_new < cost
        still = (cost - cost_new <= FTOL * cost) | np.all(np.abs(trial - x) <= XTOL * (np.abs(x) + XTOL), axis=1)
        x[better], r[better], jac[better] = trial[better], r_new[better], jac_new[better]
        cost[better] = cost_new[better]
        lam *= np.where(better, LAMBDA_DOWN, LAMBDA_UP)
        done = (better & still) | (lam > LAMBDA_MAX)
        if done.any():
            params[rows[done]], out_cost[rows[done]], converged[rows[done]] = x[done], cost[done], True
            go = ~done
            rows, x, r, jac, cost, lam = rows[go], x[go], r[go], jac[go], cost[go], lam[go]
    params[rows], out_cost[rows] = x, cost
    return BatchFit(params, out_cost, converged)
