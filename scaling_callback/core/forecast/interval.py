"""The forecast interval (ForecastPriors.interval_*): one definition for forecast() and for
tools/learn_priors.py, which must learn it on exactly this computation."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .normal import norm_ppf
from .priors import ForecastPriors


Z80 = 1.2815515655446004  # the standard normal's 90% quantile: an 80% central interval is ±Z80·sd
MIN_SCALE = 1e-6  # S's floor (relative): at observed steps every feature is 0
# the interval's lower end is linear in the half-width down to this share of the forecast; no development
# forecast was above its final by a factor 1/LINEAR_DOWN_TO (docs/forecast.md, "The interval")
LINEAR_DOWN_TO = 0.5


@dataclass(frozen=True)
class RawBand:
    """What the interval is calibrated from, at each forecast step: the fit's median m, its own
    80% quantiles (lo80, hi80), and the misspecification features (`misspecification`), each a
    relative error that is 0 at observed steps."""

    mid: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    hindcast: np.ndarray  # g_h: the law's error on this run's own past, carried as far ahead (`carried_hindcast`)
    sensitivity: np.ndarray  # g_s: |m_vague − m| / m, how much the forecast owes to the exponent prior
    ahead: np.ndarray  # g_a: |m(t) − m(t_c)| / m(t), the improvement still to come
    noise: np.ndarray  # the fitted relative noise of one validation loss (the final loss is one)
    before_decay: np.ndarray  # the share of a decay not begun at the last observed step that this step has reached (1 at the target): that drop is the prior's alone (`interval_z`)


def misspecification(raw: RawBand, w_hindcast: float, w_sensitivity: float, w_ahead: float) -> np.ndarray:
    """D, the relative error the law itself may make: √((w_h·g_h)² + (w_s·g_s)² + (w_a·g_a)²).
    0 at observed steps; it does not shrink as the fit tightens (unlike the fit's own spread)."""
    return np.sqrt((w_hindcast * raw.hindcast) ** 2 + (w_sensitivity * raw.sensitivity) ** 2
                   + (w_ahead * raw.ahead) ** 2)


def relative_own_sd(raw: RawBand) -> np.ndarray:
    """The fit's own relative sd: its 80% quantiles' half-width over Z80, per unit of the median."""
    return (raw.hi80 - raw.lo80) / (2 * Z80) / np.maximum(np.abs(raw.mid), 1e-300)


def interval_scale(raw: RawBand, w_own: float, w_hindcast: float, w_sensitivity: float, w_ahead: float):
    """S = √((w_o·own)² + D²), the relative scale the calibrated z multiplies (at least MIN_SCALE)."""
    return np.maximum(np.sqrt((w_own * relative_own_sd(raw)) ** 2
                              + misspecification(raw, w_hindcast, w_sensitivity, w_ahead) ** 2), MIN_SCALE)


def half_width(raw: RawBand, S, z, confidence: float = 0.8):
    """The relative distance from m to an end of the interval: √((k·noise)² + (z·r·S)²), k = Φ⁻¹(1 − tail)
    and r = k/Φ⁻¹(0.9). The noise of one validation loss (the final loss is one such observation)
    is normal with a known scale, so it enters at its own quantile, not multiplied by the
    calibrated z (which, taken at the worst source, would promise the gate a gain of several noise
    sd on a flat curve: benchmarks/gate_replay.py; docs/forecast.md, "Stopping safely")."""
    k = norm_ppf(0.5 + confidence / 2)
    return np.sqrt((k * raw.noise) ** 2 + (z * (k / Z80) * S) ** 2)


def standardised_error(raw: RawBand, truth, S) -> np.ndarray:
    """z of a realised final loss: the z whose 80% `half_width` (on its side) reaches it; 0 within
    the noise. `calibrated` inverts exactly this."""
    e = (np.asarray(truth, float) - raw.mid) / np.maximum(np.abs(raw.mid), 1e-300)
    return np.sign(e) * np.sqrt(np.maximum(e ** 2 - (Z80 * raw.noise) ** 2, 0.0)) / S


def interval_z(raw: RawBand, priors: "ForecastPriors"):
    """(z_lo, z_hi) at every step of `raw`: priors.interval_z, or where the drop to the target is
    the prior's alone (a decay not begun, raw.before_decay = 1 there) priors.interval_z_before_decay,
    calibrated on such forecasts only: a Mondrian conformal interval (Vovk et al. 2005,
    "Algorithmic learning in a random world", sec. 4.5), one calibration per kind of forecast.
    Both are calibrated at the target; at the steps on the way, z moves from one to the other
    with the share of the decay reached (linear: a choice for the curve, not calibrated), so the
    band widens as the decay proceeds instead of in one step where it starts."""
    z_lo, z_hi = priors.interval_z
    if priors.interval_z_before_decay is None:
        return np.full(np.shape(raw.mid), z_lo), np.full(np.shape(raw.mid), z_hi)
    share = np.clip(np.asarray(raw.before_decay, float), 0.0, 1.0)
    b_lo, b_hi = priors.interval_z_before_decay
    return z_lo + share * (b_lo - z_lo), z_hi + share * (b_hi - z_hi)


def calibrated(raw: RawBand, priors: "ForecastPriors", confidence: float):
    """(mid, low, high): the median m and m·(1 ∓ `half_width`) for z = z_lo, z_hi (`interval_z`)
    and S = √((w_o·own)² + D²): a split-conformal interval (Vovk et al. 2005, "Algorithmic learning
    in a random world", ch. 2) of the standardised error (`standardised_error`), calibrated
    across sources (tools/learn_priors.py), with the noise of one observation beside it."""
    m = raw.mid
    size = np.maximum(np.abs(m), 1e-300)
    S = interval_scale(raw, priors.interval_own, priors.interval_hindcast, priors.interval_sensitivity,
                       priors.interval_ahead)
    z_lo, z_hi = interval_z(raw, priors)
    low = lower_fraction(-half_width(raw, S, z_lo, confidence))
    return m, m + size * (low - 1.0), m + size * half_width(raw, S, z_hi, confidence)


def lower_fraction(x):
    """The interval's lower end per unit of the forecast, for x = −`half_width` < 0: the
    linear 1 + x down to a = LINEAR_DOWN_TO, continued below as a·(1 − a)/(−x) (= 0.25/(−x): equal
    value and slope at x = −½, positive, never 0). A loss is positive, and no development forecast
    was above its final by a factor 2, so the continuation changes no development coverage."""
    x = np.asarray(x, float)
    return np.where(x >= LINEAR_DOWN_TO - 1.0, 1.0 + x,
                    LINEAR_DOWN_TO * (1.0 - LINEAR_DOWN_TO) / np.maximum(-x, 1e-300))


def raw_band(mid, lo80, hi80, mid_now, mid_vague, hindcast, noise, last_step, steps, before_decay=None) -> RawBand:
    """RawBand of a fit whose median at the last observed step t_c is mid_now, whose median
    under a vaguer exponent prior (law.VAGUE_FACTOR) is mid_vague, whose g_h at `steps` is
    `hindcast` (`carried_hindcast`), whose relative noise is `noise` and whose drop to `steps`
    is the prior's alone where `before_decay` (none when None; see RawBand)."""
    size = np.maximum(np.abs(mid), 1e-300)
    ahead_steps = steps > last_step
    before = np.zeros(np.shape(mid)) if before_decay is None else np.asarray(before_decay, float) * ahead_steps
    return RawBand(mid, lo80, hi80, hindcast, np.abs(mid_vague - mid) / size * ahead_steps,
                   np.abs(mid - mid_now) / size * ahead_steps, np.full(np.shape(mid), float(noise)), before)


def carried_hindcast(hindcast_error, last_step, steps) -> np.ndarray:
    """g_h at `steps`: the hindcast's error h over its reach `span` (hindcast_error = (h, span), the
    power law's in fit.hindcasts), carried as h·ln(t/t_c)/span; 0 at observed steps and without a hindcast."""
    h, span = hindcast_error
    if span <= 0:
        return np.zeros(np.shape(steps))
    return h * np.log(np.maximum(steps, last_step) / max(last_step, 1)) / span


def hindcast_cutoff(last_step: int, target: int) -> float:
    """t_h = t_c/√(T/t_c): the hindcast forecasts the last observed step t_c from the history up to
    t_h, a reach of ln(t_c/t_h) = ½·ln(T/t_c), half the forecast's own in log steps (a hindcast
    as far ahead as the forecast would leave too few points early in a run)."""
    return last_step / math.sqrt(max(target, last_step) / max(last_step, 1))
