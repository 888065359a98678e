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


