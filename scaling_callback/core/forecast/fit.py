"""Fitting the laws to a history: the grid posterior of the multi-power law (Huber-IRLS at every
exponent, Laplace evidence), the rising law once the loss has turned up, and the choice between them."""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from ..advice import observed_overfitting
from ..laws import lr_area, multi_power_drop
from ..robust import huber, huber_weights
from ..status import Status
from .inputs import _schedule, _thin
from .interval import hindcast_cutoff
from .law import _Posterior, _RisingPosterior, _alpha_grid, decay_fraction
from .priors import ForecastPriors

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022 App. D.2 and Luo et al. 2025 use Huber δ = 1e-3 on log residuals
MAX_POINTS = 400  # longer histories are averaged down to this many points (bounded time)
MAX_STEPS = 1 << 18  # longer schedules are pooled into blocks of steps (bounded time and memory)


# ---------------------------------------------------------------------------------------------
# A validation loss that has turned up (overfitting): the forecast follows the rise.

RISE_POWERS = (0.5, 0.75, 1.0, 1.5)  # p of the rise b·u^p tried (u: learning-rate area since the best point)


def turned_up(s, y) -> Optional[int]:
    """Index of the best point when the validation loss has turned up, else None: the rule of
    advice.observed_overfitting on the validation curve alone (its running median has risen
    above its best by more than max(3σ, 1e-3)), so that the forecast and the advice agree;
    and the rise is gradual (no single step carries half of it: that is a spike or divergence)."""
    verdict = observed_overfitting(s, y)
    if not verdict.overfitting:
        return None
    best = int(np.argmin(y))
    after = y[best:]
    if len(after) < 4 or np.max(np.diff(after)) > 0.5 * (after[-1] - after[0]):
        return None
    return best


def _rising_posterior(s, y, best, target, lr, priors, notes):
    """Fit the rise after the best point (index `best`); a _RisingPosterior or a reason."""
    horizon = int(max(target, s[-1]))
    stride = 1 if horizon < MAX_STEPS else -(-horizon // MAX_STEPS)
    eta = _schedule(lr, horizon, stride, notes)
    if eta is None:
        eta = np.ones(-(-(horizon + 1) // stride))
    S1 = lr_area(eta)
    post = _RisingPosterior(eta, stride, S1, int(s[best]), int(s[-1]), (0.0, 0.0, 1.0), 0.0, priors, 0)
    ss, yy = s[best:], y[best:]
    u, _ = post._u(ss)
    fits = []
    for p in RISE_POWERS:
        X = np.stack([np.ones_like(u), u ** p], axis=1)
        coef, *_ = np.linalg.lstsq(X, yy, rcond=None)
        if coef[1] <= 0:
            continue
        r = yy - X @ coef
        fits.append((float(np.sum(r * r)), (float(coef[0]), float(coef[1]), p), r))
    if not fits:
        return "the validation loss turned up, but no rising law fits the points since its best"
    _, coef, r = min(fits, key=lambda f: f[0])
    resid = max(float(np.sqrt(np.mean(r * r) * len(r) / max(len(r) - 2, 1))) / float(np.median(yy)), priors.noise)
    return dataclasses.replace(post, coef=coef, resid=resid, n_points=len(ss))


def _fit_grid(u, g, y, uT, gT, depth, drop_prior, sigma, Lc, has_drop, iters=8, nats=False):
    """Huber-IRLS MAP of (E, A, B) ≥ 0 at every grid point, with its Laplace evidence.

    u: (J, n) power-law column, g: (J, n) drop column, uT, gT: (J,) both at the target; depth:
    1 − η at the target; drop_prior: (mean, sd) of the realised drop per unit depth, in the
    fit's units of loss when `nats`, else as a fraction of the loss; sigma: the residual scale.
    Returns theta (J, 3), cov (J, 3, 3), log evidence (J,) and relative residuals (J, n).
    """
    J, n = u.shape
    Z = np.stack([np.ones_like(u), u, -g], axis=-1) / y[None, :, None]  # (J, n, 3): r = Zθ − 1
    # priors on θ: weak E ~ N(Lc, Lc²), A ~ N(0, Lc²); the drop realised at the target per unit
    # decay depth d as a linear row a·θ ~ N(m, 1): with `nats` a·θ = B·gT/(σ·d), m = μ/σ; else
    # a·θ = (B·gT − μ·d·(E + A·uT))/(σ·d·Lc), m = 0 (a fraction of the loss without the drop);
    # B = 0 without a drop.
    mu, sd = drop_prior
    P = np.zeros((J, 3, 3))
    P[:, 0, 0] += 1.0 / Lc ** 2
    P[:, 1, 1] += 1.0 / Lc ** 2
    pm = np.zeros((J, 3))
    pm[:, 0] = Lc / Lc ** 2  # P·μ0 for the E prior
    a, m = np.zeros((J, 3)), mu / sd
    if has_drop:
        d = max(depth, 1e-3)
        if nats:
            a[:, 2] = gT / (sd * d)
        else:
            a, m = np.stack([-mu * d * np.ones(J), -mu * d * uT, gT], axis=-1) / (sd * d * Lc), 0.0
        P += a[:, :, None] * a[:, None, :]
        pm += a * m
    else:
        P[:, 2, 2] += 1e12 / Lc ** 2
    w = np.ones((J, n))
    subsets = [np.array(sub) for sub in ([0, 1, 2], [0, 1], [0, 2], [1, 2], [0], [1], [2])]
    theta = np.zeros((J, 3))
    for _ in range(iters):
        Wz = Z * (w / sigma ** 2)[:, :, None]
        M = np.einsum("jnk,jnl->jkl", Wz, Z) + P
        rhs = Wz.sum(axis=1) + pm
        best_q = np.full(J, np.inf)
        for sub in subsets:
            Ms = M[:, sub][:, :, sub]
            try:
                ts = np.linalg.solve(Ms, rhs[:, sub][:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                continue
            full = np.zeros((J, 3))
            full[:, sub] = ts
            feasible = np.all(ts >= 0, axis=1) & np.all(np.isfinite(ts), axis=1)
            q = 0.5 * np.einsum("jk,jkl,jl->j", full, M, full) - np.einsum("jk,jk->j", full, rhs)
            take = feasible & (q < best_q)
            theta[take] = full[take]
            best_q[take] = q[take]
        r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
        w = huber_weights(r, HUBER_DELTA)
    r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
    dev = theta.copy()
    dev[:, 0] -= Lc
    # the prior's cost: E's and A's rows centred at (Lc, 0), the drop's row at m (before issue 11
    # the drop's row was centred with them, at a·(Lc, 0, 0) ≠ m, which charged the evidence of every
    # exponent for the drop its fit realises and so favoured the exponents that realise less)
    P0 = P - a[:, :, None] * a[:, None, :]
    row = np.einsum("jk,jk->j", a, theta) - m if has_drop else 0.0
    cost = (huber(r, HUBER_DELTA).sum(axis=1) / sigma ** 2 + 0.5 * np.einsum("jk,jkl,jl->j", dev, P0, dev)
            + 0.5 * row ** 2)
    Wz = Z * (w / sigma ** 2)[:, :, None]
    M = np.einsum("jnk,jnl->jkl", Wz, Z) + P
    sign, logdet = np.linalg.slogdet(M)
    _, logdet_p = np.linalg.slogdet(P)
    # a singular M (e.g. a degenerate curve) leaves its grid point out (evidence −inf below)
    # instead of failing the whole batched inverse
    invertible = (sign > 0) & np.isfinite(logdet)
    cov = np.full_like(M, np.nan)
    cov[invertible] = np.linalg.inv(M[invertible])
    log_evidence = -cost - 0.5 * logdet + 0.5 * logdet_p
    log_evidence[~(sign > 0) | ~np.isfinite(log_evidence)] = -np.inf
    return theta, cov, log_evidence, r


def fitted_posterior(s, y, target, lr, priors: "ForecastPriors", notes: list, hindcast: bool = True):
    """The fit forecast() makes of a clean history (s, y): a _RisingPosterior when the loss has
    turned up, else the grid posterior under the exponent prior; or (Status, reason) when there
    is none. With `hindcast`, the grid posterior carries the law's error on the run's own past
    (`hindcast_error`) for the interval. benchmarks/learn_priors.py calibrates the interval on exactly these fits."""
    best = turned_up(s, y)
    if best is not None:
        post = _rising_posterior(s, y, best, target, lr, priors, notes)
        if isinstance(post, str):
            return Status.FIT_FAILED, post
    else:
        diverging = _diverging(y)
        if diverging:
            return Status.DIVERGING, diverging
        post = _grid_posterior(s, y, target, lr, priors, notes)
        if isinstance(post, str):
            return Status.FIT_FAILED, post
        post = post.with_exponent_prior(priors.log_alpha)
        if post is None:
            return Status.FIT_FAILED, "no exponent on the grid gives a finite fit"
    if not hindcast or best is not None:  # the rise since the best point is the data's own (no hindcast:
        return post                       # from before the turn it would be a falling law's, and misread)
    return dataclasses.replace(post, hindcast_error=hindcast_error(s, y, target, lr, priors))


HINDCAST_MIN_POINTS = 3  # the fewest points a hindcast is fitted to (as the shared scorer's forecasts)


def hindcast_error(s, y, target, lr, priors: "ForecastPriors"):
    """(h, span): how wrong the same fit was about this run's own past. The history up to
    t_h = `hindcast_cutoff`(t_c, T) forecasts the last observed step t_c; h = |y_c/m_h − 1|, y_c the
    median of the last three losses, over span = ln(t_c/t_h) of log steps; the interval carries
    it to step t as h·ln(t/t_c)/span. A law that misdescribes this curve (e.g. a loss falling
    log-linearly for thousands of steps, which a saturating law bends too early) shows it here
    before it shows at the target. (0, 0) when fewer than HINDCAST_MIN_POINTS precede t_h."""
    t_c = int(s[-1])
    t_h = hindcast_cutoff(t_c, target)
    early = s <= t_h
    if np.sum(early) < HINDCAST_MIN_POINTS or t_h <= 0:
        return 0.0, 0.0
    post = fitted_posterior(s[early], y[early], t_c, lr, priors, [], hindcast=False)
    if isinstance(post, tuple):
        return 0.0, 0.0
    m_h = float(post.median(np.array([t_c], float))[0])
    if not (np.isfinite(m_h) and m_h > 0):
        return 0.0, 0.0
    return abs(float(np.median(y[-3:])) / m_h - 1.0), math.log(t_c / t_h)


def _diverging(y) -> Optional[str]:
    """A reason when the latest losses sit far above the best so far (a diverging run)."""
    best = np.min(y)
    recent = y[-2:] if len(y) >= 3 else y[-1:]
    if np.all(recent > 1.25 * best) and np.argmin(y) < len(y) - len(recent):
        return (f"diverging run: latest loss {y[-1]:.4g} is {y[-1] / best - 1:.0%} above the best "
                f"{best:.4g}; a power law cannot describe it")
    return None


def _grid_posterior(s, y, target, lr, priors: ForecastPriors, notes: list):
    """Fit the law at every grid point; a _Posterior (without the exponent prior) or a reason."""
    horizon = int(max(target, s[-1]))
    stride = 1 if horizon < MAX_STEPS else -(-horizon // MAX_STEPS)
    eta = _schedule(lr, horizon, stride, notes)
    if eta is None:
        eta = np.ones(-(-(horizon + 1) // stride))
    if stride > 1:
        notes.append(f"schedule pooled in blocks of {stride} steps")
    S1 = lr_area(eta)
    idx = np.clip(s // stride, 0, len(eta) - 1)
    keep = S1[idx] > 0
    s_last = int(s[-1])
    early = (s < priors.min_fraction * target) | (s < s[-1] * min(1.0, s[-1] / target) ** priors.window)
    if np.sum(keep & ~early) >= 2:
        keep &= ~early
    s, y = s[keep], y[keep]
    if len(s) < 2:
        if stride > 1 and s_last < 2 * stride:
            return (f"history too short for a target this far: it ends at step {s_last}, within the first "
                    f"blocks of {stride} steps the schedule to step {horizon} is pooled into")
        return "too few points after the first step (need 2 with a positive learning-rate area)"
    s, y = _thin(s, y, MAX_POINTS)
    scale = np.median(y)  # fit in units of the typical loss: any scale of input works (numpy: scale² may be inf, not raise)
    y = y / scale
    idx = np.clip(s // stride, 0, len(eta) - 1)
    tidx = min(target // stride, len(eta) - 1)
    ref_area = S1[idx[-1]]
    x = S1[idx] / ref_area
    xT = max(S1[tidx], 1e-12) / ref_area
    Lc = np.median(y[-3:])  # numpy: Lc² may underflow to 0 and 1/Lc² be inf (then no fit), not raise

    has_drop = bool(np.any(np.diff(eta[int(np.argmax(eta)):]) < 0))
    drops_prior = priors.drops if has_drop else priors.drops[:1]
    shapes = tuple((d.C, d.beta, d.gamma, d.power) for d in drops_prior)
    log_shape_w = np.log(np.array([d.weight for d in drops_prior], float) / sum(d.weight for d in drops_prior))
    both = np.concatenate([idx, [tidx]])
    if has_drop:
        drops = np.array([multi_power_drop(eta, both, C * stride, beta, gamma, power=power)
                          for C, beta, gamma, power in shapes])
    else:
        drops = np.zeros((1, len(both)))
    depth = float(1.0 - eta[tidx])
    drop_prior = (priors.anneal[0] + priors.anneal[1] * decay_fraction(eta, tidx), priors.anneal[2])
    if priors.anneal_nats:  # in the loss's own units: the fit's units are the loss / scale
        drop_prior = (drop_prior[0] / scale, drop_prior[1] / scale)

    def fit_points(alpha, shape_idx, sigma):
        u = x[None, :] ** (-alpha[:, None])
        theta, cov, log_ev, resid = _fit_grid(u, drops[shape_idx, :-1], y, xT ** (-alpha), drops[shape_idx, -1],
                                              depth, drop_prior, sigma, Lc, has_drop, nats=priors.anneal_nats)
        return theta, cov, log_ev + log_shape_w[shape_idx], resid

    alphas = _alpha_grid()
    alpha = np.tile(alphas, len(shapes))
    shape_idx = np.repeat(np.arange(len(shapes)), len(alphas))
    # two passes: the first (σ = the prior noise) finds the residual scale, the second uses it
    theta, cov, log_ev, resid = fit_points(alpha, shape_idx, priors.noise)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    r = resid[int(np.argmax(np.where(np.isfinite(log_ev), log_ev, -np.inf)))]
    n = len(r)
    mad = 1.4826 * np.median(np.abs(r - np.median(r))) if n >= 3 else 0.0
    nu = 2.0  # pseudo-points of the prior noise: a few points cannot claim zero noise
    noise = math.sqrt((n * mad ** 2 + nu * priors.noise ** 2) / (max(n - 3, 0) + nu))
    # residuals of a smooth law on a real curve are correlated: n points carry about
    # n·(1−ρ)/(1+ρ) independent ones (ρ the lag-1 autocorrelation), so the fit's σ is widened
    sigma = noise
    if n >= 4:
        rc = r - np.mean(r)
        rho = min(max(float(np.sum(rc[1:] * rc[:-1]) / max(np.sum(rc * rc), 1e-300)), 0.0), 0.98)
        sigma *= math.sqrt((1 + rho) / (1 - rho))
    theta, cov, log_ev, resid = fit_points(alpha, shape_idx, sigma)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    # where the likelihood peaks more sharply than the grid resolves, add finer exponents
    fine_alpha, fine_shape = [], []
    for i in range(len(shapes)):
        lev = log_ev[shape_idx == i]
        j = int(np.argmax(np.where(np.isfinite(lev), lev, -np.inf)))
        if 0 < j < len(alphas) - 1 and lev[j] - max(lev[j - 1], lev[j + 1]) > 0.5:
            fine = np.exp(np.linspace(np.log(alphas[j - 1]), np.log(alphas[j + 1]), 17)[1:-1])
            fine = fine[np.abs(np.log(fine / alphas[j])) > 1e-9]
            fine_alpha.append(fine)
            fine_shape.append(np.full(len(fine), i))
    if fine_alpha:
        fa, fs = np.concatenate(fine_alpha), np.concatenate(fine_shape)
        t2, c2, l2, _ = fit_points(fa, fs, sigma)
        alpha, shape_idx = np.concatenate([alpha, fa]), np.concatenate([shape_idx, fs])
        theta, cov, log_ev = np.concatenate([theta, t2]), np.concatenate([cov, c2]), np.concatenate([log_ev, l2])
    # the grid is a quadrature in log α: weigh each point by the width of its cell
    order = np.lexsort((alpha, shape_idx))
    alpha, shape_idx, theta, cov, log_ev = alpha[order], shape_idx[order], theta[order], cov[order], log_ev[order]
    la = np.log(alpha)
    width = np.empty_like(la)
    for i in range(len(shapes)):
        m = np.nonzero(shape_idx == i)[0]
        edges = np.concatenate([[la[m[0]]], 0.5 * (la[m[1:]] + la[m[:-1]]), [la[m[-1]]]])
        width[m] = np.maximum(np.diff(edges), 1e-12)
    log_ev = log_ev + np.log(width / np.max(width))
    return _Posterior(eta, stride, S1, ref_area, shapes, alpha, shape_idx, theta * scale, cov * scale ** 2, log_ev,
                      np.full(len(alpha), 1.0 / len(alpha)), noise, priors,
                      int(s[-1]), has_drop, depth, len(s))
