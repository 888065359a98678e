"""Normal-distribution helpers: numpy has no erf, and scipy costs 0.5 s to import."""
from __future__ import annotations

import math

import numpy as np


def _erf(x):
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
    x = np.asarray(x, float)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _norm_cdf(z):
    return 0.5 * (1.0 + _erf(np.asarray(z, float) / math.sqrt(2.0)))


def _norm_ppf(p: float) -> float:
    """The standard normal quantile (bisection on _norm_cdf; p in (0, 1))."""
    a, b = -10.0, 10.0
    for _ in range(60):
        m = 0.5 * (a + b)
        if _norm_cdf(m) < p:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def _mixture_quantiles(weights, means, sds, probs):
    """Quantiles `probs` of Σ_j w_j N(means[j], sds[j]) at each column: (len(probs), m).

    weights: (J,) shared by every column, or (J, m) one mixture per column.
    """
    weights = weights[:, None] if np.ndim(weights) == 1 else weights
    lo = np.min(means - 8 * sds, axis=0)
    hi = np.max(means + 8 * sds, axis=0)
    out = []
    for p in probs:
        a, b = lo.copy(), hi.copy()
        for _ in range(60):
            mid = 0.5 * (a + b)
            cdf = np.sum(weights * _norm_cdf((mid[None, :] - means) / sds), axis=0)
            below = cdf < p
            a = np.where(below, mid, a)
            b = np.where(below, b, mid)
        out.append(0.5 * (a + b))
    return np.array(out)
