"""The multi-power law fitted at every point of its grid (exponent × kernel shape) to a clean
history: the points it sees, its columns, the drop prior, the residual scale, finer exponents
where the evidence peaks sharply, and the cells' widths in log α; a GridPosterior without the
exponent prior (law.py), or a reason (docs/forecast.md, "Fitting" and "Priors")."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple, Union

import numpy as np

from ..robust import MAD_TO_SIGMA
from ..schedules import lr_area, multi_power_drop
from .inputs import MAX_POINTS, pooled_schedule, thinned
from .irls import MIN_DECAY_DEPTH, fit_at_grid_points
from .law import LOG_LINEAR, MIN_AREA, GridPosterior, decay_fraction, decay_start, exponent_grid, power_column
from .priors import ForecastPriors

MIN_FIT_POINTS = 2  # points with a positive learning-rate area the fit needs (two determine a curve's level and slope)
RECENT_POINTS = 3  # Lc, the loss scale of E's and A's priors, is the median of the last this many losses
LAW_COEFFICIENTS = 3  # E, A, B: the residual scale's degrees of freedom lose them; fewer points leave no MAD to read
NOISE_PSEUDO_POINTS = 2.0  # ν: pseudo-points of the prior noise in the residual scale: a few points cannot claim none
AUTOCORRELATION_MIN_POINTS = 4  # the fewest residuals whose lag-1 autocorrelation ρ is read
MAX_AUTOCORRELATION = 0.98  # ρ's cap: the widening √((1+ρ)/(1−ρ)) stays finite
REFINE_ABOVE_NATS = 0.5  # an exponent whose evidence beats both neighbours' by this much peaks sharper than the grid
REFINE_POINTS = 17  # log-spaced points across its two cells; less both ends and the centre: 14 finer exponents
SAME_EXPONENT = 1e-9  # a finer exponent this close in log α to the centre is the centre, already fitted
MIN_CELL_WIDTH = 1e-12  # a grid cell's width in log α is at least this (two equal exponents share a point)
# Once DECAY_SEEN_TO_WEAKEN of the decay to the target is seen, the drop prior's sd becomes at least
# DROP_PRIOR_MIN_CV times its mean and the drop the data show decides; the hindcast keeps the learnt
# prior. Chosen with benchmarks/forecast_accuracy.py and cooldown_drop.py (docs/forecast.md, "Priors")
DECAY_SEEN_TO_WEAKEN = 0.5
DROP_PRIOR_MIN_CV = 2.0


@dataclass(frozen=True)
class _FitInputs:
    """What the fit at each grid point shares: the relative areas x (n,) and xT at the target, the
    losses y (n,) in units of their median `scale`, Lc, and the drop columns (shape, n + 1: the
    target last) with the drop prior (mean, sd) and the shapes' log prior weights."""

    x: np.ndarray
    xT: float
    y: np.ndarray
    scale: float
    Lc: float
    drops: np.ndarray
    log_shape_weight: np.ndarray
    depth: float
    drop_prior: Tuple[float, float]
    has_drop: bool
    nats: bool


def _fit(inputs: _FitInputs, alpha, shape_idx, sigma):
    """fit_at_grid_points at exponents alpha and shapes shape_idx (J,), the shapes' prior in the evidence."""
    theta, cov, log_ev, resid = fit_at_grid_points(
        power_column(inputs.x, alpha), inputs.drops[shape_idx, :-1], inputs.y,
        power_column([inputs.xT], alpha)[:, 0], inputs.drops[shape_idx, -1],
        inputs.depth, inputs.drop_prior, sigma, inputs.Lc, inputs.has_drop, nats=inputs.nats)
    return theta, cov, log_ev + inputs.log_shape_weight[shape_idx], resid


def _fitted_points(s, y, target, S1, stride, horizon, priors: ForecastPriors):
    """(s, y) the fit sees: a positive learning-rate area, after the first priors.min_fraction of
    the target and inside the window (unless fewer than MIN_FIT_POINTS would be left), thinned
    to MAX_POINTS; or a reason."""
    idx = np.clip(s // stride, 0, len(S1) - 1)
    keep = S1[idx] > 0
    s_last = int(s[-1])
    early = (s < priors.min_fraction * target) | (s < s[-1] * min(1.0, s[-1] / target) ** priors.window)
    if np.sum(keep & ~early) >= MIN_FIT_POINTS:
        keep &= ~early
    s, y = s[keep], y[keep]
    if len(s) < MIN_FIT_POINTS:
        if stride > 1 and s_last < MIN_FIT_POINTS * stride:
            return (f"history too short for a target this far: it ends at step {s_last}, within the first "
                    f"blocks of {stride} steps the schedule to step {horizon} is pooled into")
        return "too few points after the first step (need 2 with a positive learning-rate area)"
    return thinned(s, y, MAX_POINTS)


def _decay_seen(eta, last_idx, depth) -> float:
    """The fraction of the decay to the target (depth = 1 − η_T) already realised at index last_idx."""
    peak = int(np.argmax(eta))
    return (1.0 - float(np.min(eta[peak:max(last_idx, peak) + 1]))) / depth


def _drop_prior(eta, last_idx, tidx, depth, has_drop, scale, priors: ForecastPriors, weak: bool):
    """(mean, sd) of the drop realised at the target per unit of decay depth: priors.anneal's line
    in the decay fraction, its sd widened once DECAY_SEEN_TO_WEAKEN of the decay is seen (when
    `weak`), in the fit's units of loss with priors.anneal_nats."""
    drop_prior = (priors.anneal[0] + priors.anneal[1] * decay_fraction(eta, tidx), priors.anneal[2])
    if weak and has_drop and depth > MIN_DECAY_DEPTH and _decay_seen(eta, last_idx, depth) >= DECAY_SEEN_TO_WEAKEN:
        drop_prior = (drop_prior[0], max(drop_prior[1], DROP_PRIOR_MIN_CV * abs(drop_prior[0])))
    if priors.anneal_nats:  # in the loss's own units: the fit's units are the loss / scale
        drop_prior = (drop_prior[0] / scale, drop_prior[1] / scale)
    return drop_prior


def _drop_shapes(eta, both, stride, priors: ForecastPriors):
    """(has_drop, shapes, log prior weights, drop columns (shape, len(both))): the kernel shapes of
    priors.drops when the schedule decays after its peak, else one shape with a zero column."""
    has_drop = bool(np.any(np.diff(eta[int(np.argmax(eta)):]) < 0))
    drops_prior = priors.drops if has_drop else priors.drops[:1]
    shapes = tuple((d.C, d.beta, d.gamma, d.power) for d in drops_prior)
    log_shape_w = np.log(np.array([d.weight for d in drops_prior], float) / sum(d.weight for d in drops_prior))
    if has_drop:
        drops = np.array([multi_power_drop(eta, both, C * stride, beta, gamma, power=power)
                          for C, beta, gamma, power in shapes])
    else:
        drops = np.zeros((1, len(both)))
    return has_drop, shapes, log_shape_w, drops


def _residual_scale(r, prior_noise: float) -> Tuple[float, float]:
    """(noise, σ) from the residuals r of the best power-law point: noise by MAD with
    NOISE_PSEUDO_POINTS of the prior noise; σ widened by √((1+ρ)/(1−ρ)), ρ their lag-1
    autocorrelation (a smooth law's residuals on a real curve are correlated: n points carry
    about n·(1−ρ)/(1+ρ) independent ones)."""
    n = len(r)
    mad = MAD_TO_SIGMA * np.median(np.abs(r - np.median(r))) if n >= LAW_COEFFICIENTS else 0.0
    nu = NOISE_PSEUDO_POINTS
    noise = math.sqrt((n * mad ** 2 + nu * prior_noise ** 2) / (max(n - LAW_COEFFICIENTS, 0) + nu))
    sigma = noise
    if n >= AUTOCORRELATION_MIN_POINTS:
        rc = r - np.mean(r)
        rho = min(max(float(np.sum(rc[1:] * rc[:-1]) / max(np.sum(rc * rc), 1e-300)), 0.0), MAX_AUTOCORRELATION)
        sigma *= math.sqrt((1 + rho) / (1 - rho))
    return noise, sigma


def _finer_exponents(alphas, log_ev, shape_idx, n_shapes):
    """(exponents, shapes) to add where a shape's evidence peaks more sharply than the grid
    resolves (REFINE_ABOVE_NATS above both neighbours); None where it nowhere does."""
    fine_alpha, fine_shape = [], []
    for i in range(n_shapes):
        lev = log_ev[shape_idx == i]
        j = int(np.argmax(np.where(np.isfinite(lev), lev, -np.inf)))
        # alphas[0] is the log-linear law: a peak refined has power-law exponents on both sides (j − 1 ≥ 1)
        if 1 < j < len(alphas) - 1 and lev[j] - max(lev[j - 1], lev[j + 1]) > REFINE_ABOVE_NATS:
            fine = np.exp(np.linspace(np.log(alphas[j - 1]), np.log(alphas[j + 1]), REFINE_POINTS)[1:-1])
            fine = fine[np.abs(np.log(fine / alphas[j])) > SAME_EXPONENT]
            fine_alpha.append(fine)
            fine_shape.append(np.full(len(fine), i))
    if not fine_alpha:
        return None
    return np.concatenate(fine_alpha), np.concatenate(fine_shape)


def _log_cell_widths(alpha, shape_idx, n_shapes):
    """log of each grid point's weight as a quadrature in log α: its cell's width over the widest
    (the log-linear law, a single point per shape, as the widest cell). alpha, shape_idx sorted."""
    power = alpha > LOG_LINEAR
    la = np.log(np.where(power, alpha, 1.0))
    width = np.ones_like(la)
    for i in range(n_shapes):
        m = np.nonzero((shape_idx == i) & power)[0]
        edges = np.concatenate([[la[m[0]]], 0.5 * (la[m[1:]] + la[m[:-1]]), [la[m[-1]]]])
        width[m] = np.maximum(np.diff(edges), MIN_CELL_WIDTH)
    width[~power] = np.max(width[power])
    return np.log(width / np.max(width))


def _fit_inputs(s, y, eta, S1, stride, tidx, priors: ForecastPriors, weak_drop_prior: bool):
    """The fit's shared inputs (_FitInputs) for the points (s, y) it sees, with the drop shapes."""
    scale = np.median(y)  # fit in units of the typical loss: any scale works (numpy: scale² may be inf, not raise)
    y = y / scale
    idx = np.clip(s // stride, 0, len(eta) - 1)
    ref_area = S1[idx[-1]]
    has_drop, shapes, log_shape_w, drops = _drop_shapes(eta, np.concatenate([idx, [tidx]]), stride, priors)
    depth = float(1.0 - eta[tidx])
    inputs = _FitInputs(
        x=S1[idx] / ref_area, xT=max(S1[tidx], MIN_AREA) / ref_area, y=y, scale=scale,
        Lc=np.median(y[-RECENT_POINTS:]),  # numpy: Lc² may underflow to 0 and 1/Lc² be inf (then no fit), not raise
        drops=drops, log_shape_weight=log_shape_w, depth=depth,
        drop_prior=_drop_prior(eta, idx[-1], tidx, depth, has_drop, scale, priors, weak_drop_prior),
        has_drop=has_drop, nats=priors.anneal_nats)
    return inputs, shapes, ref_area


def _fit_all_exponents(inputs: _FitInputs, n_shapes: int, prior_noise: float):
    """Fit every (exponent, shape): a first pass at σ = the prior noise finds the residual scale,
    the second uses it, finer exponents are added where the evidence peaks, and each point is
    weighed by its cell. (alpha, shape_idx, theta, cov, log_ev, noise), or a reason."""
    alphas = np.concatenate([[LOG_LINEAR], exponent_grid()])  # the log-linear law, then the power law's exponents
    alpha = np.tile(alphas, n_shapes)
    shape_idx = np.repeat(np.arange(n_shapes), len(alphas))
    theta, cov, log_ev, resid = _fit(inputs, alpha, shape_idx, prior_noise)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    # the residual scale of the best power-law point (the log-linear law is only a candidate)
    best_power = int(np.argmax(np.where(np.isfinite(log_ev) & (alpha > LOG_LINEAR), log_ev, -np.inf)))
    noise, sigma = _residual_scale(resid[best_power], prior_noise)
    theta, cov, log_ev, resid = _fit(inputs, alpha, shape_idx, sigma)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    finer = _finer_exponents(alphas, log_ev, shape_idx, n_shapes)
    if finer is not None:
        fa, fs = finer
        t2, c2, l2, _ = _fit(inputs, fa, fs, sigma)
        alpha, shape_idx = np.concatenate([alpha, fa]), np.concatenate([shape_idx, fs])
        theta, cov, log_ev = np.concatenate([theta, t2]), np.concatenate([cov, c2]), np.concatenate([log_ev, l2])
    order = np.lexsort((alpha, shape_idx))
    alpha, shape_idx, theta, cov, log_ev = alpha[order], shape_idx[order], theta[order], cov[order], log_ev[order]
    log_ev = log_ev + _log_cell_widths(alpha, shape_idx, n_shapes)
    return alpha, shape_idx, theta, cov, log_ev, noise


def grid_posterior(s, y, target, lr, priors: ForecastPriors, notes: list,
                   weak_drop_prior: bool = True) -> Union[GridPosterior, str]:
    """Fit the law at every grid point; a GridPosterior (without the exponent prior) or a reason.
    `weak_drop_prior`: the drop prior steps aside once DECAY_SEEN_TO_WEAKEN of the decay is seen."""
    eta, stride, horizon = pooled_schedule(lr, target, s[-1], notes)
    if stride > 1:
        notes.append(f"schedule pooled in blocks of {stride} steps")
    S1 = lr_area(eta)
    points = _fitted_points(s, y, target, S1, stride, horizon, priors)
    if isinstance(points, str):
        return points
    s, y = points
    tidx = min(target // stride, len(eta) - 1)
    inputs, shapes, ref_area = _fit_inputs(s, y, eta, S1, stride, tidx, priors, weak_drop_prior)
    fitted = _fit_all_exponents(inputs, len(shapes), priors.noise)
    if isinstance(fitted, str):
        return fitted
    alpha, shape_idx, theta, cov, log_ev, noise = fitted
    scale = inputs.scale
    post = GridPosterior(
        eta=eta, stride=stride, S1=S1, ref_area=ref_area, shapes=shapes, alpha=alpha, shape_idx=shape_idx,
        theta=theta * scale, cov=cov * scale ** 2, log_evidence=log_ev, weight=np.full(len(alpha), 1.0 / len(alpha)),
        noise=noise, priors=priors, last_step=int(s[-1]), has_drop=inputs.has_drop, depth=inputs.depth,
        n_points=len(s), decay_start=decay_start(eta, tidx) if inputs.has_drop else None)
    if post.before_decay(np.array([target], float))[0] > 0:  # the interval's own test (`GridPosterior.before_decay`)
        notes.append(f"the schedule's decay begins at step {post.decay_start * stride}, after the last step seen: "
                     f"the drop it brings is the prior's, learnt on other runs, and the interval is as wide as "
                     f"such forecasts' errors were")
    return post
