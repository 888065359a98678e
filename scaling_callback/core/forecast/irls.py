"""The law at every grid point at once: for each exponent and kernel shape it is linear in
(E, A, B), whose MAP under the priors and the bounds E, A, B ≥ 0 is solved by Huber-IRLS over
every active set, with its Laplace evidence (docs/forecast.md, "Fitting")."""
from __future__ import annotations

import numpy as np

from ..robust import huber, huber_weights

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022 App. D.2 and Luo et al. 2025 use Huber δ = 1e-3 on log residuals
IRLS_ITERATIONS = 8  # reweightings of the Huber fit: a fixed count bounds the time
MIN_DECAY_DEPTH = 1e-3  # the drop prior is per unit of decay depth; a shallower decay is taken as this deep
NO_DROP_PRECISION = 1e12  # B's prior precision (per 1/Lc²) without a drop: B pinned to 0
# every active set of (E, A, B) ≥ 0: the bounded optimum is the best feasible unconstrained one among them
ACTIVE_SETS = ([0, 1, 2], [0, 1], [0, 2], [1, 2], [0], [1], [2])


def _prior_rows(J, uT, gT, depth, drop_prior, Lc, has_drop, nats):
    """The priors on θ = (E, A, B) as a precision P (J, 3, 3) and P·μ0 (J, 3), with the drop's
    row a (J, 3) and its centre m: weak E ~ N(Lc, Lc²), A ~ N(0, Lc²); the drop realised at the
    target per unit decay depth d as a linear row a·θ ~ N(m, 1): with `nats` a·θ = B·gT/(σ·d),
    m = μ/σ; else a·θ = (B·gT − μ·d·(E + A·uT))/(σ·d·Lc), m = 0 (a fraction of the loss
    without the drop); B = 0 without a drop."""
    mu, sd = drop_prior
    P = np.zeros((J, 3, 3))
    P[:, 0, 0] += 1.0 / Lc ** 2
    P[:, 1, 1] += 1.0 / Lc ** 2
    pm = np.zeros((J, 3))
    pm[:, 0] = Lc / Lc ** 2  # P·μ0 for the E prior
    a, m = np.zeros((J, 3)), mu / sd
    if has_drop:
        d = max(depth, MIN_DECAY_DEPTH)
        if nats:
            a[:, 2] = gT / (sd * d)
        else:
            a, m = np.stack([-mu * d * np.ones(J), -mu * d * uT, gT], axis=-1) / (sd * d * Lc), 0.0
        P += a[:, :, None] * a[:, None, :]
        pm += a * m
    else:
        P[:, 2, 2] += NO_DROP_PRECISION / Lc ** 2
    return P, pm, a, m


def _normal_matrix(Z, w, sigma, P):
    """M = Zᵀ·W·Z/σ² + P (J, 3, 3) and W·Z/σ² (J, n, 3) for IRLS weights w (J, n)."""
    Wz = Z * (w / sigma ** 2)[:, :, None]
    return np.einsum("jnk,jnl->jkl", Wz, Z) + P, Wz


def _bounded_solve(M, rhs, theta):
    """θ ≥ 0 minimising ½θᵀMθ − θᵀrhs at every grid point: the best feasible solution over
    ACTIVE_SETS, written into `theta` (J, 3) where one is found."""
    J = M.shape[0]
    best_q = np.full(J, np.inf)
    for sub in (np.array(s) for s in ACTIVE_SETS):
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
    return theta


def _huber_irls(Z, P, pm, sigma, iters):
    """(θ (J, 3), the last IRLS weights (J, n)): Huber-IRLS of the relative residuals r = Zθ − 1."""
    J, n = Z.shape[:2]
    w = np.ones((J, n))
    theta = np.zeros((J, 3))
    for _ in range(iters):
        M, Wz = _normal_matrix(Z, w, sigma, P)
        rhs = Wz.sum(axis=1) + pm
        theta = _bounded_solve(M, rhs, theta)
        r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
        w = huber_weights(r, HUBER_DELTA)
    return theta, w


def _laplace_evidence(Z, theta, w, P, a, m, sigma, Lc, has_drop):
    """(cov (J, 3, 3), log evidence (J,)) of the MAP θ: the Huber cost with the priors' cost, E's
    and A's rows centred at (Lc, 0) and the drop's row at its own centre m (docs/forecast.md,
    "The drop's evidence"), and the Laplace volume of M against P's."""
    r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
    dev = theta.copy()
    dev[:, 0] -= Lc
    P0 = P - a[:, :, None] * a[:, None, :]
    row = np.einsum("jk,jk->j", a, theta) - m if has_drop else 0.0
    cost = (huber(r, HUBER_DELTA).sum(axis=1) / sigma ** 2 + 0.5 * np.einsum("jk,jkl,jl->j", dev, P0, dev)
            + 0.5 * row ** 2)
    M, _ = _normal_matrix(Z, w, sigma, P)
    sign, logdet = np.linalg.slogdet(M)
    _, logdet_p = np.linalg.slogdet(P)
    # a singular M (e.g. a degenerate curve) leaves its grid point out (evidence −inf below)
    # instead of failing the whole batched inverse
    invertible = (sign > 0) & np.isfinite(logdet)
    cov = np.full_like(M, np.nan)
    cov[invertible] = np.linalg.inv(M[invertible])
    log_evidence = -cost - 0.5 * logdet + 0.5 * logdet_p
    log_evidence[~(sign > 0) | ~np.isfinite(log_evidence)] = -np.inf
    return cov, log_evidence, r


def fit_at_grid_points(u, g, y, uT, gT, depth, drop_prior, sigma, Lc, has_drop, iters=IRLS_ITERATIONS, nats=False):
    """Huber-IRLS MAP of (E, A, B) ≥ 0 at every grid point, with its Laplace evidence.

    u: (J, n) power-law column, g: (J, n) drop column, uT, gT: (J,) both at the target; depth:
    1 − η at the target; drop_prior: (mean, sd) of the realised drop per unit depth, in the
    fit's units of loss when `nats`, else as a fraction of the loss; sigma: the residual scale.
    Returns theta (J, 3), cov (J, 3, 3), log evidence (J,) and relative residuals (J, n).
    """
    J = u.shape[0]
    Z = np.stack([np.ones_like(u), u, -g], axis=-1) / y[None, :, None]  # (J, n, 3): r = Zθ − 1
    P, pm, a, m = _prior_rows(J, uT, gT, depth, drop_prior, Lc, has_drop, nats)
    theta, w = _huber_irls(Z, P, pm, sigma, iters)
    cov, log_evidence, r = _laplace_evidence(Z, theta, w, P, a, m, sigma, Lc, has_drop)
    return theta, cov, log_evidence, r
