"""A validation loss that has turned up (overfitting): when it has (`turned_up`, `overfitting_from`),
the rise since its best point fitted as y = a + b·u^p (`rising_posterior`), and that fit as a
posterior (RisingPosterior). docs/forecast.md, "When the validation loss turns up"."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from ..overfitting import observed_overfitting
from ..schedules import lr_area, rate_rose
from .inputs import pooled_schedule
from .interval import Z80, RawBand, calibrated, raw_band
from .law import MIN_AREA
from .priors import ForecastPriors

RISE_POWERS = (0.5, 0.75, 1.0, 1.5)  # p of the rise b·u^p tried (docs/forecast.md, "When the validation loss turns up")
RISE_MIN_POINTS = 4  # the fewest points from the best one on that make a rise (fewer: a blip)
SPIKE_SHARE = 0.5  # a rise one step of which carries more than this share is a spike or a divergence, not a trend
RISE_COEFFICIENTS = 2  # a and b, fitted for each p: the rms residual's degrees of freedom lose them


def turned_up(s, y) -> Optional[int]:
    """Index of the best point when the validation loss has turned up, else None: the rule of
    overfitting.observed_overfitting on the validation curve alone (its running median has risen
    above its best by more than max(3σ, 1e-3)), so that the forecast and the advice agree;
    and the rise is gradual (no single step carries SPIKE_SHARE of it: that is a spike or divergence)."""
    verdict = observed_overfitting(s, y)
    if not verdict.overfitting:
        return None
    best = int(np.argmin(y))
    after = y[best:]
    if len(after) < RISE_MIN_POINTS or np.max(np.diff(after)) > SPIKE_SHARE * (after[-1] - after[0]):
        return None
    return best


def _planned_rate_rose(lr, from_step: int, to_step: int, target: int) -> bool:
    """schedules.rate_rose on forecast()'s `lr` (per-step array or knots, as `inputs.planned_schedule` reads it)."""
    eta, stride, _ = pooled_schedule(lr, target, to_step, [])
    return rate_rose(np.arange(len(eta)) * stride, eta, from_step, to_step)


def overfitting_from(s, y, lr, target, notes: list) -> Optional[int]:
    """`turned_up`, unless the planned rate rose since the best point (schedules.rate_rose: a restart,
    whose rise the multi-power law carries; a note says so)."""
    best = turned_up(s, y)
    if best is not None and lr is not None and _planned_rate_rose(lr, s[best], s[-1], target):
        notes.append(f"the validation loss rose since step {int(s[best])} while the planned learning rate "
                     f"rose too (a restart): read as the schedule's doing, not overfitting")
        return None
    return best


@dataclass(frozen=True)
class RisingPosterior:
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
    step_clock: Optional["RisingPosterior"] = None  # the rise with u in steps; None without a schedule

    def area_since_best(self, steps) -> np.ndarray:
        """u at `steps`: the learning-rate area since the best point, per unit of the area from it
        to the last observed point (0 before the best point)."""
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        b = self.S1[min(self.best_step // self.stride, len(self.eta) - 1)]
        c = self.S1[min(self.last_step // self.stride, len(self.eta) - 1)]
        return np.maximum(self.S1[idx] - b, 0.0) / max(c - b, MIN_AREA)

    def median(self, steps) -> np.ndarray:
        a, b, p = self.coef
        return a + b * self.area_since_best(steps) ** p

    def raw(self, steps) -> RawBand:
        """The rise's median and own 80% band at `steps`, with the interval's features: g_s is the
        step clock's part from the area clock (no exponent prior here: the clock is the assumption),
        g_h the rise's own residual carried as far as the rise is (a hindcast from before the turn
        would be a falling law's); docs/forecast.md, "When the validation loss turns up"."""
        steps = np.asarray(steps, float)
        a, b, p = self.coef
        u = self.area_since_best(steps)
        mid = a + b * u ** p
        own = self.resid * np.maximum(1.0, u)  # the fit's spread grows with how far it is carried
        half = Z80 * own * np.abs(mid)
        vague = mid if self.step_clock is None else self.step_clock.median(steps)
        return raw_band(mid, mid - half, mid + half, a + b, vague, own * (steps > self.last_step), self.resid,
                        self.last_step, steps)

    def band(self, steps, confidence):
        """(mid, low, high) as `calibrated` gives them, with the clock's g_s on one side only: the
        side of the step clock's forecast (above under a decaying schedule, where the area clock
        falls behind). The other end is the one without g_s: with g_s on both sides the low end
        of a rise fell below the loss's current level and the gate stopped runs still rising
        (benchmarks/gate_replay.py; docs/forecast.md, "When the validation loss turns up").
        tools/learn_priors.py calibrates z with g_s on both sides, as `raw` gives it: on the
        step clock's side the band is that one, on the other it is narrower by g_s alone."""
        raw = self.raw(steps)
        mid, low, high = calibrated(raw, self.priors, confidence)
        if self.step_clock is None:
            return mid, low, high
        _, low0, high0 = calibrated(dataclasses.replace(raw, sensitivity=np.zeros_like(raw.sensitivity)),
                                    self.priors, confidence)
        other = self.step_clock.median(np.asarray(steps, float))
        return mid, np.where(other < mid, low, low0), np.where(other > mid, high, high0)


def rising_posterior(s, y, best, target, lr, priors, notes) -> Union[RisingPosterior, str]:
    """Fit the rise after the best point (index `best`): the p of RISE_POWERS with the least
    squares and a positive b; a RisingPosterior, or a reason when none fits."""
    eta, stride, _ = pooled_schedule(lr, target, s[-1], notes)
    post = RisingPosterior(eta=eta, stride=stride, S1=lr_area(eta), best_step=int(s[best]), last_step=int(s[-1]),
                           coef=(0.0, 0.0, 1.0), resid=0.0, priors=priors, n_points=0)
    ss, yy = s[best:], y[best:]
    u = post.area_since_best(ss)
    fits = []
    for p in RISE_POWERS:
        X = np.stack([np.ones_like(u), u ** p], axis=1)
        coef, *_ = np.linalg.lstsq(X, yy, rcond=None)
        if coef[1] <= 0:
            continue
        r = yy - X @ coef
        fits.append((float(np.sum(r * r)), (float(coef[0]), float(coef[1]), p), r))
    if not fits:
        return "the validation loss turned up, but no rising law fits the points since its best"
    _, coef, r = min(fits, key=lambda f: f[0])
    rms = float(np.sqrt(np.mean(r * r) * len(r) / max(len(r) - RISE_COEFFICIENTS, 1)))
    resid = max(rms / float(np.median(yy)), priors.noise)
    return dataclasses.replace(post, coef=coef, resid=resid, n_points=len(ss))
