"""The multi-power law fitted over its grid of exponents and kernel shapes (Luo et al. 2025),
with its log-linear limit (α → 0), as a posterior: GridPosterior (grid.py fits it)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..schedules import multi_power_drop
from .interval import RawBand, calibrated, carried_hindcast, raw_band
from .normal import mixture_quantiles
from .priors import ForecastPriors

# α = 0 on the grid marks the log-linear law L = E + A·(1 − ln x) − B·LD, the α → 0 limit of the power
# law written as E' + A·(x^(−α) − 1)/α (Box & Cox 1964); docs/forecast.md, "When the loss falls log-linearly"
LOG_LINEAR = 0.0
EXPONENT_GRID_LOW = 0.04  # the power law's exponents α span [LOW, HIGH], log-spaced, far wider than any exponent prior
EXPONENT_GRID_HIGH = 3.0  # (docs/forecast.md, "Fitting")
EXPONENT_GRID_POINTS = 48  # grid points in that span (grid.REFINE_ABOVE_NATS adds finer ones where a peak is sharper)
# g_s compares the forecast with one under an exponent prior this many times vaguer; chosen over a flat
# prior by benchmarks/forecast_accuracy.py and tests/test_forecast.py (docs/forecast.md, "The interval", g_s)
VAGUE_FACTOR = 3.0
PRUNE_BELOW = 1e-6  # grid points weighing less than this share of the heaviest move no quantile: dropped (bounded time)
DECAY_BEGINS_BELOW = 0.98  # a decay has begun once the rate is 2% below its peak (warm-up and float noise are not one)
MIN_AREA = 1e-12  # a floor on a learning-rate area (step 0 has none) where the law divides by it or raises it to −α
MIN_RELATIVE_SD = 1e-9  # a grid point's sd is at least this share of its mean: its normal CDF stays defined


def exponent_grid() -> np.ndarray:
    """The power law's exponents α on the grid: EXPONENT_GRID_POINTS log-spaced in
    [EXPONENT_GRID_LOW, EXPONENT_GRID_HIGH]."""
    return np.exp(np.linspace(math.log(EXPONENT_GRID_LOW), math.log(EXPONENT_GRID_HIGH), EXPONENT_GRID_POINTS))


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
class GridPosterior:
    """The fitted law at every grid point (exponent, kernel shape) and their posterior weights
    (`grid.grid_posterior` builds it; `fit.fitted_posterior` chooses the law)."""

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

    def with_exponent_prior(self, log_alpha, prune: float = PRUNE_BELOW) -> Optional["GridPosterior"]:
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

    def log_linear_law(self) -> Optional["GridPosterior"]:
        """The log-linear law's posterior (the α = LOG_LINEAR points, weighted by their evidence:
        no exponent, so nothing of the forecast is owed to an exponent prior and g_s is 0); None
        without a finite fit."""
        log_post = np.where(self.alpha == LOG_LINEAR, self.log_evidence, -np.inf)
        good = np.isfinite(log_post)
        if not np.any(good):
            return None
        w = np.where(good, np.exp(log_post - np.max(log_post[good])), 0.0)
        return self._keep(good, w, None)  # no vaguer posterior: `raw` takes g_s = 0

    def _keep(self, live, w, vague) -> "GridPosterior":
        return dataclasses.replace(self, alpha=self.alpha[live], shape_idx=self.shape_idx[live],
                                   theta=self.theta[live], cov=self.cov[live],
                                   log_evidence=self.log_evidence[live], weight=w[live] / w[live].sum(),
                                   vague_weight=None if vague is None else vague[live] / vague[live].sum())

    def _design(self, steps):
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        x = np.maximum(self.S1[idx], MIN_AREA) / self.ref_area
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
        return mean, np.maximum(sd, np.maximum(MIN_RELATIVE_SD * np.abs(mean), 1e-300))

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
