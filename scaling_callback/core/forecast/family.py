"""Family mode: what the run's family (earlier runs of the recipe, a sweep, a ladder) says about
how this forecaster errs on runs like it (numpy only).

Every finished family run is forecast again from its own curve at the fractions FAMILY_CUTOFFS
of its planned steps, with the same priors (`replay_run`). Within a family the runs are close to
exchangeable, so the errors of those replays at the fraction of the run the forecast is made
from tell (split-conformal calibration, Vovk et al. 2005, "Algorithmic learning in a random
world", ch. 2) both the bias the priors leave on such runs (a decay that drops more than the
prior says, an exponent the prior places too low) and how far the forecast may still be off:

    e_j = ln(final_j / forecast_j),     b = median(e_j),
    forecast' = forecast · exp(λ·b),  ends' = forecast' · exp(q) blended (weight λ, in log units)
    with the ends without the family, shifted alike,  λ = n/(n + FAMILY_PRIOR_RUNS)

q the conformal quantiles of e_j − b, n the family runs replayed at that fraction: with one or
two runs the forecast stays close to the defaults. (Scores normalised by each replay's own
interval width, Papadopoulos et al. 2008, were as sharp with whole families and blew up with
ten-run families where a run's width was far from its family's:
benchmarks/forecast_accuracy.py --family, docs/forecast.md, "Family mode".) Each replay is made
when a forecast first needs it and cached per run and fraction, so that leaving one run out, or
adding one, costs nothing more.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["FamilyRun", "Family", "FamilyAdjustment", "replay_error", "replay_cutoff", "reached_planned_end",
           "FAMILY_CUTOFFS", "PLANNED_END_TOLERANCE"]

# The fractions of a family run's planned steps it is forecast again from: every tenth, so that a
# forecast at any point of the run finds replays within 5% of its own fraction.
FAMILY_CUTOFFS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MIN_POINTS_SEEN = 3  # the fewest validation points a replay is made from (as learning.MIN_POINTS_SEEN)
PLANNED_END_TOLERANCE = 0.01  # the shared scorer's rule: a run is finished when its last point is within 1% of its planned end
# The weight of the defaults, in family runs: λ = n/(n + FAMILY_PRIOR_RUNS); chosen by
# `python3 benchmarks/forecast_accuracy.py --family --family-size K --family-prior-runs W`
# (docs/forecast.md, "Family mode"): with 2-3 runs a lighter weight under-covered, with whole
# families it made no difference.
FAMILY_PRIOR_RUNS = 4.0


def reached_planned_end(last_step, planned_end) -> bool:
    """Whether a run whose last validation is at `last_step` finished: within PLANNED_END_TOLERANCE
    of its planned end (a family run, a development run, a study's complete trial)."""
    return planned_end > 0 and abs(last_step - planned_end) <= PLANNED_END_TOLERANCE * planned_end


@dataclass(frozen=True)
class FamilyRun:
    """One run of the family: its validation curve, its planned end and schedule.

    run_id: what the run is called (a CSV's run_id, a log dir's path): a forecast of a run leaves
        the family run of the same id out (`Family.without`).
    steps, losses: the validation history; the loss at `final_step` is what the replays forecast.
    final_step: the planned end (the run counts only when its last validation reached it).
    lr: the planned schedule, as forecast()'s `lr` (an array per step or (knot_steps, knot_rates)), or None.
    """

    run_id: str
    steps: Tuple[float, ...]
    losses: Tuple[float, ...]
    final_step: int
    lr: object = None

    def seen(self, cutoff: float):
        steps, losses = np.asarray(self.steps, float), np.asarray(self.losses, float)
        keep = steps <= cutoff * self.final_step
        return steps[keep], losses[keep]

    @property
    def final_loss(self) -> float:
        return float(np.asarray(self.losses, float)[np.argmax(self.steps)])

    def key(self) -> str:
        """A hash of what the replays depend on (the curve, the planned end, the schedule)."""
        h = hashlib.sha1()
        for part in (self.steps, self.losses):
            h.update(np.asarray(part, float).tobytes())
        h.update(str(int(self.final_step)).encode())
        if self.lr is not None:
            for part in (self.lr if isinstance(self.lr, tuple) else (self.lr,)):
                h.update(np.asarray(part, float).tobytes())
        return h.hexdigest()


def replay_error(run: FamilyRun, cutoff: float, priors, forecast) -> Optional[float]:
    """ln(final/forecast) of `run`'s final loss forecast from `cutoff` of its planned steps with
    `priors` by `forecast` (the package's forecast(): the replays must be exactly what a user
    gets); None when too few points are seen there or no forecast is made."""
    steps, losses = run.seen(cutoff)
    final = run.final_loss
    if len(steps) < MIN_POINTS_SEEN or not final > 0:
        return None
    fc = forecast(steps, losses, target_step=run.final_step, lr=run.lr, priors=priors)
    return math.log(final / fc.loss) if fc.ok and fc.loss > 0 else None


def replay_cutoff(fraction: float) -> Optional[float]:
    """The replayed fraction (FAMILY_CUTOFFS) a forecast from `fraction` of its run is calibrated
    at: the nearest within half a step; beyond the last, the last (a shorter horizon); None for a
    forecast from the first 5% of a run."""
    step = FAMILY_CUTOFFS[1] - FAMILY_CUTOFFS[0]
    target = min(fraction, FAMILY_CUTOFFS[-1])
    nearest = min(FAMILY_CUTOFFS, key=lambda c: abs(c - target))
    return nearest if abs(nearest - target) <= step / 2 + 1e-9 else None


@dataclass(frozen=True)
class FamilyAdjustment:
    """What the family says at one fraction of the run: the shift b and the conformal quantiles
    (q_low, q_high) of e − b, in log units; λ, the family's weight against the defaults."""

    n_runs: int
    bias: float
    q_low: float
    q_high: float
    weight: float

    def apply(self, mid, low, high):
        """(mid, low, high) shifted by exp(λ·b) and, with two runs or more, the ends blended
        (weight λ, in log units) with the family's own m'·exp(q); arrays or floats."""
        mid, low, high = (np.asarray(v, float) for v in (mid, low, high))
        lam = self.weight
        shift = math.exp(lam * self.bias)
        new_mid, new_low, new_high = mid * shift, low * shift, high * shift
        if self.n_runs >= 2:
            with np.errstate(all="ignore"):
                new_low = np.exp(lam * (np.log(new_mid) + self.q_low) + (1 - lam) * np.log(new_low))
                new_high = np.exp(lam * (np.log(new_mid) + self.q_high) + (1 - lam) * np.log(new_high))
            new_low = np.where(low > 0, new_low, low * shift)  # a lower end at 0 stays there
        return new_mid, np.minimum(new_low, new_mid), np.maximum(new_high, new_mid)


class Family:
    """A family's finished runs and the priors their replays are made under (`learn_family`).
    A replay (one run forecast again from one fraction of its planned steps) is made the first time
    a forecast needs it and kept in `cache` (a dict-like keyed by (FamilyRun.key(), repr(priors),
    cutoff)), so a family costs one forecast a run at each tenth of the run it is used at.
    `adjustment(fraction, confidence)` is what forecast(..., family=) applies; `without(run_id)`
    leaves a run out (the run being forecast is never its own family)."""

    def __init__(self, runs: Sequence[FamilyRun], priors, forecast, cache=None, skipped: Sequence[str] = (),
                 prior_runs: float = FAMILY_PRIOR_RUNS):
        self.runs = tuple(runs)
        self.prior_runs = float(prior_runs)  # the defaults' weight, in runs: λ = n/(n + prior_runs)
        self.priors = priors
        self.forecast = forecast
        self.cache = {} if cache is None else cache
        self.skipped = tuple(skipped)  # the runs left out when it was read, with the reason

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    def _subset(self, runs) -> "Family":
        return Family(runs, self.priors, self.forecast, self.cache, self.skipped, self.prior_runs)

    def without(self, run_id: Optional[str]) -> "Family":
        if run_id is None:
            return self
        return self._subset(tuple(r for r in self.runs if r.run_id != str(run_id)))

    def only(self, run_ids) -> "Family":
        """The family of these runs alone."""
        keep = {str(i) for i in run_ids}
        return self._subset(tuple(r for r in self.runs if r.run_id in keep))

    def errors_at(self, fraction: float) -> np.ndarray:
        """The runs' replay errors at the replayed fraction for `fraction` (`replay_cutoff`)."""
        cutoff = replay_cutoff(fraction)
        if cutoff is None:
            return np.zeros(0)
        out = []
        for run in self.runs:
            key = (run.key(), repr(self.priors), cutoff)
            if key in self.cache:
                error = self.cache[key]
            else:
                error = replay_error(run, cutoff, self.priors, self.forecast)
                self.cache[key] = error
            if error is not None:
                out.append(error)
        return np.asarray(out, float)

    def replay_all(self) -> "Family":
        """Every replay made now (at every fraction of FAMILY_CUTOFFS) rather than when first needed."""
        for cutoff in FAMILY_CUTOFFS:
            self.errors_at(cutoff)
        return self

    def adjustment(self, fraction: float, confidence: float) -> Optional[FamilyAdjustment]:
        """The shift and interval at this fraction of the run (t_c/T), or None without family replays there."""
        r = self.errors_at(fraction)
        n = len(r)
        if n == 0:
            return None
        bias = float(np.median(r))
        tail = (1.0 - confidence) / 2.0
        rest = r - bias
        # split-conformal levels with the finite-sample correction (n+1)/n, clipped to the data's range
        q_low = float(np.quantile(rest, min(max(tail * (n + 1) / n - 1.0 / n, 0.0), 1.0)))
        q_high = float(np.quantile(rest, min((1.0 - tail) * (n + 1) / n, 1.0)))
        return FamilyAdjustment(n, bias, min(q_low, 0.0), max(q_high, 0.0), n / (n + self.prior_runs))

    def __repr__(self) -> str:
        return f"Family({self.n_runs} runs, {len(self.skipped)} left out)"
