"""Where the cross-run fit searches: each form's log-loss model in fit coordinates, its grid of
starting points and its bounds (numpy only).

The fit works on log loss with the log-sum-exp parameterisation of Hoffmann et al. (2022)
App. D.2, so every form is written here as log L̂ of its fit coordinates (the logs of the
scale parameters, the exponents as they are).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .laws import ChinchillaLaw, DataConstrainedLaw, KaplanLaw, Law

__all__ = ["FIT_SPACES", "FitSpace", "MAX_LOG_FLOAT"]


@dataclass(frozen=True)
class FitSpace:
    """How a law is fitted: log-loss model in fit coordinates, starts grid, bounds."""

    law: type
    grid: np.ndarray  # (n_starts, k) starting points in fit coordinates
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]

    def log_loss(self, p, logN, logD, logU=None):
        """log L̂ for parameter rows p (k,) -> (n,) or (m, k) -> (m, n); logU: log unique tokens."""
        cols = [np.asarray(p, float)[..., i, None] for i in range(len(self.lower))]
        if self.law is DataConstrainedLaw:
            return _data_constrained_log_loss(cols, logN, logD, logU)
        if self.law is ChinchillaLaw:
            a, b, e, alpha, beta = cols
            # Hoffmann et al. 2022 eq. 3 / App. D.2: log L̂ = LSE(a − α·log N, b − β·log D, e)
            return np.logaddexp(np.logaddexp(a - alpha * logN, b - beta * logD), e)
        n_c, d_c, alpha_n, alpha_d = cols
        # Kaplan et al. 2020 eq. 1.5 in logs: α_D·LSE((α_N/α_D)(log N_c − log N), log D_c − log D)
        return alpha_d * np.logaddexp(alpha_n / alpha_d * (n_c - logN), d_c - logD)

    def log_loss_jac(self, p, logN, logD, logU=None):
        """(log L̂, its derivatives in the fit coordinates) for rows p (m, k): (m, n), (m, k, n).

        Analytic, so the local fit needs one model evaluation per step where a numerical
        Jacobian took k + 1 (the fit's time went to scipy's approx_derivative)."""
        cols = [np.asarray(p, float)[..., i, None] for i in range(len(self.lower))]
        if self.law is DataConstrainedLaw:
            value, grads = _data_constrained_jac(cols, logN, logD, logU)
        elif self.law is ChinchillaLaw:
            value, grads = _chinchilla_jac(cols, logN, logD)
        else:
            value, grads = _kaplan_jac(cols, logN, logD)
        jac = np.empty(value.shape[:-1] + (len(grads),) + value.shape[-1:])
        for i, g in enumerate(grads):
            jac[..., i, :] = g
        return value, jac

    def to_law(self, p) -> Optional[Law]:
        """The law at fit coordinates p, or None when a parameter overflows a float (e^710 and
        beyond: the optimiser ran off to infinity, as it does when loss barely varies)."""
        p = [float(v) for v in p]
        logs = p[:3] if self.law is ChinchillaLaw else p[:3] + p[5:] if self.law is DataConstrainedLaw else p[:2]
        if not all(math.isfinite(v) for v in p) or max(logs) >= MAX_LOG_FLOAT:
            return None
        if self.law is ChinchillaLaw:
            a, b, e, alpha, beta = p
            return ChinchillaLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta)
        if self.law is DataConstrainedLaw:
            a, b, e, alpha, beta, r_d, r_n = p
            return DataConstrainedLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta,
                                      R_D_star=math.exp(r_d), R_N_star=math.exp(r_n))
        n_c, d_c, alpha_n, alpha_d = p
        return KaplanLaw(N_c=math.exp(n_c), D_c=math.exp(d_c), alpha_N=alpha_n, alpha_D=alpha_d)


def _data_constrained_log_loss(cols, logN, logD, logU):
    """log L̂ of the Muennighoff form in (a, b, e, α, β, log R*_D, log R*_N)."""
    a, b, e, alpha, beta, log_rd, log_rn = cols
    r_d, r_n = np.exp(log_rd), np.exp(log_rn)
    # U_N, the compute-optimal N for U tokens (Hoffmann eq. 4 inverted), in logs
    log_g = (np.log(alpha) + a - np.log(beta) - b) / (alpha + beta)
    log_un = np.minimum(logN, log_g + beta / alpha * (logU + log_g))
    reps_n = np.expm1(logN - log_un)
    log_ud = np.minimum(logU, logD)
    reps_d = np.expm1(logD - log_ud)
    # Muennighoff et al. 2023 eq. 5 (D') and its parameter twin (N'), in logs
    log_n_eff = log_un + np.log1p(-r_n * np.expm1(-reps_n / r_n))
    log_d_eff = log_ud + np.log1p(-r_d * np.expm1(-reps_d / r_d))
    return np.logaddexp(np.logaddexp(a - alpha * log_n_eff, b - beta * log_d_eff), e)


def _softmax3(t1, t2, t3):
    """log(e^t1 + e^t2 + e^t3) and the three weights e^ti / Σ e^tj, which are its derivatives."""
    top = np.maximum(np.maximum(t1, t2), t3)
    s1, s2, s3 = np.exp(t1 - top), np.exp(t2 - top), np.exp(t3 - top)
    total = s1 + s2 + s3
    return top + np.log(total), (s1 / total, s2 / total, s3 / total)


def _chinchilla_jac(cols, logN, logD):
    """log L̂ = LSE(a − α·log N, b − β·log D, e) and its gradient: the softmax weights w."""
    a, b, e, alpha, beta = cols
    value, (w1, w2, w3) = _softmax3(a - alpha * logN, b - beta * logD, e + 0 * logN)
    return value, (w1, w2, w3, -w1 * logN, -w2 * logD)


def _kaplan_jac(cols, logN, logD):
    """log L̂ = α_D·LSE(u1, u2), u1 = (α_N/α_D)(log N_c − log N), u2 = log D_c − log D."""
    n_c, d_c, alpha_n, alpha_d = cols
    u1, u2 = alpha_n / alpha_d * (n_c - logN), d_c - logD
    lse = np.logaddexp(u1, u2)
    w1 = np.exp(u1 - lse)
    return alpha_d * lse, (alpha_n * w1, alpha_d * (1.0 - w1), w1 * (n_c - logN), lse - w1 * u1)


def _repeated_log(log_u, log_total, log_r):
    """log of U·(1 + R*·(1 − e^(−R/R*))), R = total/U − 1 (Muennighoff eq. 5 in logs), and its
    derivatives in log U and in log R*."""
    r_star = np.exp(log_r)
    reps = np.expm1(log_total - log_u)
    decay = np.exp(-reps / r_star)
    gain = -r_star * np.expm1(-reps / r_star)  # R*·(1 − e^(−R/R*))
    q = 1.0 + gain
    return log_u + np.log(q), 1.0 - decay * (reps + 1.0) / q, (gain - reps * decay) / q


def _data_constrained_jac(cols, logN, logD, logU):
    """_data_constrained_log_loss with its gradient in (a, b, e, α, β, log R*_D, log R*_N)."""
    a, b, e, alpha, beta, log_rd, log_rn = cols
    s = alpha + beta
    log_g = (np.log(alpha) + a - np.log(beta) - b) / s
    optimal = log_g + beta / alpha * (logU + log_g)  # log U_N while below log N
    below = optimal < logN
    log_un = np.where(below, optimal, logN)
    # d log U_N / d(a, b, α, β), nonzero where U_N < N
    d_un = [np.where(below, d, 0.0) for d in (
        1.0 / alpha + 0 * logN, -1.0 / alpha + 0 * logN,
        (1.0 / alpha - log_g) / alpha - beta / alpha**2 * (log_g + logU),
        (logU - 1.0 / beta) / alpha + 0 * logN)]
    log_n_eff, dn_dun, dn_dr = _repeated_log(log_un, logN, log_rn)
    log_d_eff, _, dd_dr = _repeated_log(np.minimum(logU, logD), logD, log_rd)
    value, (w1, w2, w3) = _softmax3(a - alpha * log_n_eff, b - beta * log_d_eff, e + 0 * logN)
    dn = [dn_dun * d for d in d_un]  # d log N' / d(a, b, α, β)
    return value, (w1 * (1.0 - alpha * dn[0]), w2 - w1 * alpha * dn[1], w3,
                   -w1 * (log_n_eff + alpha * dn[2]), -w2 * log_d_eff - w1 * alpha * dn[3],
                   -w2 * beta * dd_dr, -w1 * alpha * dn_dr)


def _grid(*axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), float)


_INF = math.inf
MAX_LOG_FLOAT = math.log(np.finfo(float).max)  # ≈ 709.78: exp of anything larger overflows
FIT_SPACES = {
    # Hoffmann et al. 2022 App. D.2 grid, coordinates (a, b, e, α, β):
    # a, b ∈ {0, 5, …, 25}, e ∈ {−1, −.5, …, 1}, α, β ∈ {0, .5, …, 2}: 6·6·5·5·5 = 4,500 starts
    "chinchilla": FitSpace(
        ChinchillaLaw,
        _grid(np.arange(0, 26, 5), np.arange(0, 26, 5), np.arange(-1, 1.01, 0.5),
              np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5)),
        lower=(-_INF, -_INF, -_INF, 0.0, 0.0),
        upper=(_INF, _INF, _INF, 10.0, 10.0),
    ),
    # Kaplan form, coordinates (log N_c, log D_c, α_N, α_D): exponents from 0.025 to 0.8 in
    # doublings, log N_c, log D_c ∈ {10, 15, …, 60} (Kaplan's own: 31.8, 30.5): 4,356 starts
    "kaplan": FitSpace(
        KaplanLaw,
        _grid(np.arange(10, 61, 5), np.arange(10, 61, 5), 0.025 * 2.0 ** np.arange(6),
              0.025 * 2.0 ** np.arange(6)),
        lower=(-_INF, -_INF, 1e-4, 1e-4),
        upper=(_INF, _INF, 10.0, 10.0),
    ),
    # Hoffmann's grid (α, β from 0.5: the form divides by them) times log R*_D, log R*_N ∈
    # {log 2, log 8, log 32} (Muennighoff's fit: 15.4 and 5.3): 6·6·5·4·4·3·3 = 25,920 starts
    "muennighoff": FitSpace(
        DataConstrainedLaw,
        _grid(np.arange(0, 26, 5), np.arange(0, 26, 5), np.arange(-1, 1.01, 0.5),
              np.arange(0.5, 2.01, 0.5), np.arange(0.5, 2.01, 0.5), np.log([2.0, 8.0, 32.0]),
              np.log([2.0, 8.0, 32.0])),
        lower=(-_INF, -_INF, -_INF, 1e-3, 1e-3, math.log(1e-2), math.log(1e-2)),
        upper=(_INF, _INF, _INF, 10.0, 10.0, math.log(1e4), math.log(1e4)),
    ),
}


