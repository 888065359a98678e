"""Normal-distribution helpers: numpy has no erf, and scipy costs 0.5 s to import."""
from __future__ import annotations

import functools
import math

import numpy as np

# erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): 1 − (a1·t + … + a5·t⁵)·e^(−x²), t = 1/(1 + p·x)
ERF_P = 0.3275911
ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)  # a1..a5 of A&S 7.1.26
PPF_BRACKET = 10.0  # norm_ppf bisects in [−10, 10]: Φ(−10) ≈ 8e-24, beyond any level forecast() asks for
PPF_BISECTIONS = 60  # halvings of that bracket: 20·2^-60 ≈ 2e-17, below float64's resolution near 1
BISECTIONS = 50  # halvings of mixture_quantiles' bracket: 2^-50 ≈ 1e-15 of its width


def _erf(x):
    a1, a2, a3, a4, a5 = ERF_A
    x = np.asarray(x, float)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + ERF_P * a)
    y = 1.0 - (((((a5 * t + a4) * t) + a3) * t + a2) * t + a1) * t * np.exp(-a * a)
    return s * y


def norm_cdf(z):
    """The standard normal CDF Φ(z) (to A&S 7.1.26's accuracy)."""
    return 0.5 * (1.0 + _erf(np.asarray(z, float) / math.sqrt(2.0)))


@functools.lru_cache(maxsize=64)
def norm_ppf(p: float) -> float:
    """The standard normal quantile (bisection on norm_cdf; p in (0, 1)); cached: forecast()
    asks for the same few levels (its confidence) at every call."""
    a, b = -PPF_BRACKET, PPF_BRACKET
    for _ in range(PPF_BISECTIONS):
        m = 0.5 * (a + b)
        if norm_cdf(m) < p:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def mixture_quantiles(weights, means, sds, probs):
    """Quantiles `probs` of Σ_j w_j N(means[j], sds[j]) at each column: (len(probs), m).

    weights: (J,) shared by every column, or (J, m) one mixture per column.
    All quantiles are bisected together, inside the bracket [min_j q_j, max_j q_j] of the
    components' own quantiles q_j = mean_j + sd_j·Φ⁻¹(p) over the components with weight (the
    mixture's CDF is at most p at the lowest of them and at least p at the highest).
    """
    weights = weights[:, None] if np.ndim(weights) == 1 else weights
    weights = np.broadcast_to(weights, means.shape)
    z = np.array([norm_ppf(float(p)) for p in probs])[:, None, None]  # (P, 1, 1)
    q = means[None] + sds[None] * z  # (P, J, m)
    held = (weights > 0)[None]
    a = np.min(np.where(held, q, np.inf), axis=1)  # (P, m)
    b = np.max(np.where(held, q, -np.inf), axis=1)
    p = np.asarray(probs, float)[:, None]
    w = weights[None]
    for _ in range(BISECTIONS):
        mid = 0.5 * (a + b)
        cdf = np.sum(w * norm_cdf((mid[:, None, :] - means[None]) / sds[None]), axis=1)
        below = cdf < p
        a = np.where(below, mid, a)
        b = np.where(below, b, mid)
    return 0.5 * (a + b)
