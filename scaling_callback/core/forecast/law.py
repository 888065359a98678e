"""The fitted laws as posteriors: the multi-power law over its grid of exponents and kernel
shapes (Luo et al. 2025) with its log-linear limit (α → 0), and the rise of a validation loss
that has turned up."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..schedules import multi_power_drop
from .interval import Z80, RawBand, calibrated, carried_hindcast, raw_band
from .normal import mixture_quantiles
from .priors import ForecastPriors


# The interval's g_s compares the forecast with the one under an exponent prior this many times
# vaguer (sd × 3: N(−0.3, 0.6) for DEFAULT_PRIORS). A flat prior was tried first: about as good
# left one source out (benchmarks/forecast_accuracy.py), but on a short noisy history its median
# wanders with the noise and the interval's lower end reached 0 (tests/test_forecast.py's noisy
# power laws).
VAGUE_FACTOR = 3.0

# α = 0 on the grid marks the log-linear law L = E + A·(1 − ln x) − B·LD: the limit α → 0 of the
# power law written as E' + A·(x^(−α) − 1)/α (Box & Cox 1964), a loss that falls by the same amount
# for every doubling of the learning-rate area, with no asymptote in sight. Small byte-level
# models on a CPU fall so for their whole run (data/curves/cpu_gpt.csv), where a saturating power
# law bends too early; fit.fitted_posterior lets the run's own past choose between the two.
LOG_LINEAR = 0.0


def power_column(x, alpha) -> np.ndarray:
    """The law's power column at relative areas x (m,) for exponents alpha (J,): x^(−α), and
    1 − ln x for α = LOG_LINEAR (both 1 at x = 1, the last observed point). (J, m)."""
    x = np.asarray(x, float)
    alpha = np.asarray(alpha, float)
    out = x[None, :] ** (-alpha[:, None])
    linear = alpha == LOG_LINEAR
    if np.any(linear):
        out[linear] = 1.0 - np.log(x)[None, :]
    return out


@dataclass(frozen=True)
class _Posterior:
    """The fitted law at every grid point (exponent, kernel shape) and their posterior weights."""

    eta: np.ndarray  # normalised schedule at every (pooled) step 0..horizon
    stride: int  # steps per pooled step
    S1: np.ndarray  # lr_area(eta)
    ref_area: float  # S1 at the last observed step: x = S1/ref_area
    shapes: Tuple[Tuple[float, float, float, float], ...]  # (C, β, γ, power) of each DropPrior
    alpha: np.ndarray  # (J,) exponent per grid point
    shape_idx: np.ndarray  # (J,) index into shapes
    theta: np.ndarray  # (J, 3) E, A, B
    cov: np.ndarray  # (J, 3, 3) posterior covariance of theta
    log_evidence: np.ndarray  # (J,) log p(data | grid point) + log prior of its shape
    weight: np.ndarray  # (J,) posterior probability (after with_exponent_prior)
    noise: float  # relative noise of one observation
    priors: "ForecastPriors"  # for the interval's calibration
    last_step: int  # the last observed step
    has_drop: bool  # the schedule decays somewhere before the target
    depth: float  # 1 − η at the target
    n_points: int  # points fitted
    vague_weight: Optional[np.ndarray] = None  # (J,) the posterior under a VAGUE_FACTOR× vaguer exponent prior
    hindcast_error: Tuple[float, float] = (0.0, 0.0)  # (g_h, span): the power law's hindcast error for the interval (fit.hindcasts), whichever law forecasts
    decay_start: Optional[int] = None  # the pooled index where the schedule's decay begins (`decay_start`); None if it never does

    @property
    def log_linear(self) -> bool:
        """The posterior is the log-linear law's (`log_linear_law`), not the power law's."""
        return bool(np.all(self.alpha == LOG_LINEAR))

    def with_exponent_prior(self, log_alpha, prune: float = 1e-6) -> Optional["_Posterior"]:
        """The power law's posterior (α > 0) under log α ~ N(log_alpha), grid points below
        `prune`·max dropped (under both this prior and one VAGUE_FACTOR× vaguer: the forecast under
        that is the interval's g_s); None when no power-law point has a finite fit."""
        mu, sd = log_alpha
        power = self.alpha > LOG_LINEAR
        la = np.log(np.where(power, self.alpha, 1.0))
        log_post = np.where(power, self.log_evidence - 0.5 * ((la - mu) / sd) ** 2, -np.inf)
        good = np.isfinite(log_post)
        if not np.any(good):
            return None
        w = np.where(good, np.exp(log_post - np.max(log_post[good])), 0.0)
        log_vague = self.log_evidence - 0.5 * ((la - mu) / (VAGUE_FACTOR * sd)) ** 2
        vague = np.where(good, np.exp(log_vague - np.max(log_vague[good])), 0.0)
        live = (w >= prune * w.max()) | (vague >= prune)
        return self._keep(live, w, vague)

    def log_linear_law(self) -> Optional["_Posterior"]:
        """The log-linear law's posterior (the α = LOG_LINEAR points, weighted by their evidence:
        no exponent, so nothing of the forecast is owed to an exponent prior and g_s is 0); None
        without a finite fit."""
        log_post = np.where(self.alpha == LOG_LINEAR, self.log_evidence, -np.inf)
        good = np.isfinite(log_post)
        if not np.any(good):
            return None
        w = np.where(good, np.exp(log_post - np.max(log_post[good])), 0.0)
        return self._keep(good, w, None)  # no vaguer posterior: `raw` takes g_s = 0

    def _keep(self, live, w, vague) -> "_Posterior":
        return dataclasses.replace(self, alpha=self.alpha[live], shape_idx=self.shape_idx[live],
                                   theta=self.theta[live], cov=self.cov[live],
                                   log_evidence=self.log_evidence[live], weight=w[live] / w[live].sum(),
                                   vague_weight=None if vague is None else vague[live] / vague[live].sum())

    def _design(self, steps):
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        x = np.maximum(self.S1[idx], 1e-12) / self.ref_area
        u = power_column(x, self.alpha)  # (J, m)
        drops = np.zeros((len(self.shapes), len(idx)))
        for i, (C, beta, gamma, power) in enumerate(self.shapes):
            if np.any(self.shape_idx == i):
                drops[i] = multi_power_drop(self.eta, idx, C * self.stride, beta, gamma, power=power)
        g = drops[self.shape_idx]  # (J, m)
        return np.stack([np.ones_like(u), u, -g], axis=-1)  # (J, m, 3)

    def moments(self, steps):
        """Per grid point mean and sd of the loss at `steps`: two (J, m) arrays."""
        X = self._design(steps)
        mean = np.einsum("jmk,jk->jm", X, self.theta)
        var = np.einsum("jmk,jkl,jml->jm", X, self.cov, X)
        sd = np.sqrt(np.maximum(var, 0.0) + (self.noise * np.abs(mean)) ** 2)
        return mean, np.maximum(sd, np.maximum(1e-9 * np.abs(mean), 1e-300))

    def raw(self, steps) -> RawBand:
        """The mixture's median and own 80% quantiles at `steps`, with the interval's features."""
        steps = np.asarray(steps, float)
        mean, sd = self.moments(np.concatenate([[self.last_step], steps]))
        lo, mid, hi = mixture_quantiles(self.weight, mean, sd, (0.1, 0.5, 0.9))
        vague = mid if self.vague_weight is None else mixture_quantiles(self.vague_weight, mean, sd, (0.5,))[0]
        return raw_band(mid[1:], lo[1:], hi[1:], mid[0], vague[1:],
                        carried_hindcast(self.hindcast_error, self.last_step, steps), self.noise, self.last_step, steps,
                        self.before_decay(steps))

    def before_decay(self, steps) -> np.ndarray:
        """When the schedule's decay had not begun by the last observed step: at each of `steps`
        the share of the decay to the target it has reached, (η(t_c) − η(t))/(η(t_c) − η(T)) in
        [0, 1] (1 at the target); what it drops by then is the prior's alone
        (`interval.interval_z`). 0 everywhere once the decay has begun, or without one."""
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        last = min(self.last_step // self.stride, len(self.eta) - 1)
        fall = self.eta[last] - (1.0 - self.depth)  # η(t_c) − η(T), the schedule normalised to its peak
        if self.decay_start is None or self.decay_start <= last or fall <= 0:
            return np.zeros(np.shape(idx))
        return np.clip((self.eta[last] - self.eta[idx]) / fall, 0.0, 1.0)

    def median(self, steps) -> np.ndarray:
        """The forecast (the mixture's median) at `steps`, without the interval."""
        mean, sd = self.moments(np.asarray(steps, float))
        return mixture_quantiles(self.weight, mean, sd, (0.5,))[0]

    def band(self, steps, confidence):
        """(mid, low, high) at `steps`: the calibrated median and interval (`calibrated`)."""
        return calibrated(self.raw(steps), self.priors, confidence)


@dataclass(frozen=True)
class _RisingPosterior:
    """The loss after its best point: y = a + b·u^p, u the learning-rate area since the best
    point (1 at the last observed one); the rise goes on as fast as the training does.
    `step_clock` is the same rise fitted with u in steps (`fit.fitted_posterior`): under a
    decaying schedule the two clocks part, and which one the rise keeps is not known."""

    eta: np.ndarray
    stride: int
    S1: np.ndarray
    best_step: int
    last_step: int
    coef: Tuple[float, float, float]  # a, b, p
    resid: float  # relative rms residual of the fit
    priors: "ForecastPriors"
    n_points: int
    step_clock: Optional["_RisingPosterior"] = None  # the rise with u in steps; None without a schedule

    def _u(self, steps):
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        b = self.S1[min(self.best_step // self.stride, len(self.eta) - 1)]
        c = self.S1[min(self.last_step // self.stride, len(self.eta) - 1)]
        return np.maximum(self.S1[idx] - b, 0.0) / max(c - b, 1e-12), idx

    def median(self, steps) -> np.ndarray:
        a, b, p = self.coef
        return a + b * self._u(steps)[0] ** p

    def raw(self, steps) -> RawBand:
        steps = np.asarray(steps, float)
        a, b, p = self.coef
        u = self._u(steps)[0]
        mid = a + b * u ** p
        own = self.resid * np.maximum(1.0, u)  # the fit's spread grows with how far it is carried
        half = Z80 * own * np.abs(mid)
        # no exponent prior here; what the forecast owes to an assumption (g_s) is the clock: the
        # rise on the step clock is the "vaguer" forecast. Without it (g_s = 0) cpu_gpt's rising
        # forecasts under cosine and WSD schedules held the final 8 of 19 times left out, with it
        # 14 (area clock −12..−17% off where the step clock is +7..+17%; cpu_gpt's coverage 0.82 →
        # 0.84, and the public sources' z learnt with it narrower: benchmarks/forecast_accuracy.py).
        # And no hindcast (from before the turn it would be a falling law's): the rise's own
        # residual, carried as far as the rise is, takes the hindcast's place (g_h)
        vague = mid if self.step_clock is None else self.step_clock.median(steps)
        return raw_band(mid, mid - half, mid + half, a + b, vague, own * (steps > self.last_step), self.resid,
                        self.last_step, steps)

    def band(self, steps, confidence):
        """(mid, low, high) as `calibrated` gives them, with the clock's g_s on one side only: the
        side of the step clock's forecast (above under a decaying schedule, where the area clock
        falls behind). The other end is the one without g_s: with g_s on both sides the low end
        of a rise fell below the loss's current level, and the gate (a stop needs the low end
        at the target no better than now) stopped 1 cpu_gpt run instead of 6 with no wrong stop
        either way (benchmarks/gate_replay.py through forecast_accuracy.py). benchmarks/
        learn_priors.py calibrates z with g_s on both sides, as `raw` gives it: on the step
        clock's side the band is that one, on the other it is narrower by g_s alone."""
        raw = self.raw(steps)
        mid, low, high = calibrated(raw, self.priors, confidence)
        if self.step_clock is None:
            return mid, low, high
        _, low0, high0 = calibrated(dataclasses.replace(raw, sensitivity=np.zeros_like(raw.sensitivity)),
                                    self.priors, confidence)
        other = self.step_clock.median(np.asarray(steps, float))
        return mid, np.where(other < mid, low, low0), np.where(other > mid, high, high0)


DECAY_BEGINS_BELOW = 0.98  # a decay has begun once the rate is 2% below its peak (warm-up and float noise are not one)


def decay_start(eta, target: int) -> Optional[int]:
    """The first index of 0..target where the schedule is DECAY_BEGINS_BELOW its peak (None if never)."""
    eta = np.asarray(eta, float)[: target + 1]
    peak = int(np.argmax(eta))
    below = np.nonzero(eta[peak:] < DECAY_BEGINS_BELOW * eta[peak])[0]
    return None if len(below) == 0 else peak + int(below[0])


def decay_fraction(eta, target: int) -> float:
    """The fraction of 0..target after the schedule's decay begins (`decay_start`; 0 if never)."""
    start = decay_start(eta, target)
    if start is None or target <= 0:
        return 0.0
    return float((target - start) / target)


def _alpha_grid():
    return np.exp(np.linspace(math.log(0.04), math.log(3.0), 48))
