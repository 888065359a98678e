"""The forecast interval (ForecastPriors.interval_*): one definition for forecast() and for
benchmarks/learn_priors.py, which must learn it on exactly this computation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .normal import _norm_ppf
from .priors import ForecastPriors


Z80 = 1.2815515655446004  # the standard normal's 90% quantile: an 80% central interval is ±Z80·sd


@dataclass(frozen=True)
class RawBand:
    """What the interval is calibrated from, at each forecast step: the fit's median m, its own
    80% quantiles (lo80, hi80), and the misspecification features (`misspecification`)."""

    mid: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    trend: np.ndarray  # g_t: |d L / d ln t| / m at the last observed step, times ln(t / t_c)
    decay: np.ndarray  # g_d: η(t_c) − η(t), the fall of the learning rate not yet seen (≥ 0)
    ahead: np.ndarray  # g_a: |m(t) − m(t_c)| / m(t), the improvement still to come


def misspecification(raw: RawBand, w_trend: float, w_decay: float, w_ahead: float) -> np.ndarray:
    """D, the relative error the law itself may make: √((w_t·g_t)² + (w_d·g_d)² + (w_a·g_a)²).
    0 at observed steps; it does not shrink as the fit tightens (unlike the fit's own spread)."""
    return np.sqrt((w_trend * raw.trend) ** 2 + (w_decay * raw.decay) ** 2 + (w_ahead * raw.ahead) ** 2)


def calibrated(raw: RawBand, priors: "ForecastPriors", confidence: float):
    """(mid, low, high): the median m and m·(1 + z·S·r) for z = z_lo, z_hi, S = √(own² + D²): a
    split-conformal interval (Vovk et al. 2005, "Algorithmic learning in a random world", ch. 2)
    of the standardised error, calibrated across sources (benchmarks/learn_priors.py); r =
    Φ⁻¹(1 − tail)/Φ⁻¹(0.9) carries the 80% calibration to `confidence` as a normal's would."""
    m = raw.mid
    size = np.maximum(np.abs(m), 1e-300)
    own = (raw.hi80 - raw.lo80) / (2 * Z80) / size
    S = np.sqrt(own ** 2 + misspecification(raw, priors.interval_trend, priors.interval_decay,
                                            priors.interval_ahead) ** 2)
    z_lo, z_hi = priors.interval_z
    r = _norm_ppf(0.5 + confidence / 2) / Z80
    return m, m + size * S * z_lo * r, m + size * S * z_hi * r


def raw_band(mid, lo80, hi80, mid_now, trend, eta_now, eta, last_step, steps) -> RawBand:
    """RawBand of a fit whose median at the last observed step is mid_now (see RawBand)."""
    size = np.maximum(np.abs(mid), 1e-300)
    ahead_steps = steps > last_step
    reach = np.log(np.maximum(steps, last_step) / max(last_step, 1))
    return RawBand(mid, lo80, hi80, trend * reach, np.maximum(eta_now - eta, 0.0) * ahead_steps,
                   np.abs(mid - mid_now) / size * ahead_steps)


def observed_trend(s, y) -> float:
    """|slope| of the loss against ln(step) over the points given (least squares), per unit of
    their median loss: how fast the curve was still moving when the forecast was made."""
    x = np.log(np.maximum(np.asarray(s, float), 1.0))
    if len(x) < 2 or np.ptp(x) <= 0:
        return 0.0
    xc = x - x.mean()
    slope = float(np.sum(xc * (y - y.mean())) / np.sum(xc * xc))
    return abs(slope) / max(float(np.median(np.abs(y))), 1e-300)
