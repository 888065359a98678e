"""The forecast interval (ForecastPriors.interval_*): one definition for forecast() and for
benchmarks/learn_priors.py, which must learn it on exactly this computation."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .normal import _norm_ppf
from .priors import ForecastPriors


Z80 = 1.2815515655446004  # the standard normal's 90% quantile: an 80% central interval is ±Z80·sd


@dataclass(frozen=True)
class RawBand:
    """What the interval is calibrated from, at each forecast step: the fit's median m, its own
    80% quantiles (lo80, hi80), and the misspecification features (`misspecification`), each a
    relative error that is 0 at observed steps."""

    mid: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    hindcast: np.ndarray  # g_h: the law's error on this run's own past, carried as far ahead (`hindcast_reach`)
    sensitivity: np.ndarray  # g_s: |m_flat − m| / m, how much the forecast owes to the exponent prior
    ahead: np.ndarray  # g_a: |m(t) − m(t_c)| / m(t), the improvement still to come


def misspecification(raw: RawBand, w_hindcast: float, w_sensitivity: float, w_ahead: float) -> np.ndarray:
    """D, the relative error the law itself may make: √((w_h·g_h)² + (w_s·g_s)² + (w_a·g_a)²).
    0 at observed steps; it does not shrink as the fit tightens (unlike the fit's own spread)."""
    return np.sqrt((w_hindcast * raw.hindcast) ** 2 + (w_sensitivity * raw.sensitivity) ** 2
                   + (w_ahead * raw.ahead) ** 2)


def relative_own_sd(raw: RawBand) -> np.ndarray:
    """The fit's own relative sd: its 80% quantiles' half-width over Z80, per unit of the median."""
    return (raw.hi80 - raw.lo80) / (2 * Z80) / np.maximum(np.abs(raw.mid), 1e-300)


def calibrated(raw: RawBand, priors: "ForecastPriors", confidence: float):
    """(mid, low, high): the median m and m·(1 + z·S·r) for z = z_lo, z_hi, S = √((w_o·own)² + D²):
    a split-conformal interval (Vovk et al. 2005, "Algorithmic learning in a random world", ch. 2)
    of the standardised error, calibrated across sources (benchmarks/learn_priors.py); r =
    Φ⁻¹(1 − tail)/Φ⁻¹(0.9) carries the 80% calibration to `confidence` as a normal's would."""
    m = raw.mid
    size = np.maximum(np.abs(m), 1e-300)
    S = np.sqrt((priors.interval_own * relative_own_sd(raw)) ** 2
                + misspecification(raw, priors.interval_hindcast, priors.interval_sensitivity,
                                   priors.interval_ahead) ** 2)
    z_lo, z_hi = priors.interval_z
    r = _norm_ppf(0.5 + confidence / 2) / Z80
    return m, m + size * S * z_lo * r, m + size * S * z_hi * r


def raw_band(mid, lo80, hi80, mid_now, mid_flat, hindcast_error, last_step, steps) -> RawBand:
    """RawBand of a fit whose median at the last observed step t_c is mid_now and whose median
    without the exponent prior is mid_flat (see RawBand); hindcast_error = (h, span) from
    `hindcast_reach`'s hindcast."""
    size = np.maximum(np.abs(mid), 1e-300)
    ahead_steps = steps > last_step
    h, span = hindcast_error
    reach = np.log(np.maximum(steps, last_step) / max(last_step, 1)) / span if span > 0 else 0.0 * steps
    return RawBand(mid, lo80, hi80, h * reach, np.abs(mid_flat - mid) / size * ahead_steps,
                   np.abs(mid - mid_now) / size * ahead_steps)


def hindcast_cutoff(last_step: int, target: int) -> float:
    """t_h = t_c/√(T/t_c): the hindcast forecasts the last observed step t_c from the history up to
    t_h, a reach of ln(t_c/t_h) = ½·ln(T/t_c), half the forecast's own in log steps (a hindcast
    as far ahead as the forecast would leave too few points early in a run)."""
    return last_step / math.sqrt(max(target, last_step) / max(last_step, 1))
