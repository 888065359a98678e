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
benchmarks/forecast_accuracy.py --family, docs/forecast.md, "Family mode".) The replays are
cached per run (`FamilyReplay`), so that leaving one run out, or adding one, costs nothing more.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

__all__ = ["FamilyRun", "FamilyReplay", "Family", "replay_run", "replayed_family", "FAMILY_CUTOFFS"]

# The fractions of a family run's planned steps it is forecast again from: every tenth, so that a
# forecast at any point of the run finds replays within 5% of its own fraction.
FAMILY_CUTOFFS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
MIN_POINTS_SEEN = 3  # the fewest validation points a replay is made from (as learning.MIN_POINTS_SEEN)
# The weight of the defaults, in family runs: λ = n/(n + FAMILY_PRIOR_RUNS); chosen by
# `python3 benchmarks/forecast_accuracy.py --family --family-size K` (docs/forecast.md, "Family
# mode"): with 2-3 runs a lighter default weight under-covered, with whole families it made no difference.
FAMILY_PRIOR_RUNS = 4.0


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


@dataclass(frozen=True)
class FamilyReplay:
    """One family run forecast again from FAMILY_CUTOFFS: at each fraction `cutoffs[i]`, the error
    ln(final/forecast) in `errors[i]`."""

    run_id: str
    cutoffs: Tuple[float, ...]
    errors: Tuple[float, ...]


def replay_run(run: FamilyRun, priors, forecast) -> FamilyReplay:
    """Forecast `run`'s final loss from each of FAMILY_CUTOFFS of its planned steps with `priors`
    by `forecast` (the package's forecast(): the replays must be exactly what a user gets)."""
    cuts, errors = [], []
    final = run.final_loss
    for cut in FAMILY_CUTOFFS:
        steps, losses = run.seen(cut)
        if len(steps) < MIN_POINTS_SEEN or not (final > 0):
            continue
        fc = forecast(steps, losses, target_step=run.final_step, lr=run.lr, priors=priors)
        if fc.ok and fc.loss > 0:
            cuts.append(cut)
            errors.append(math.log(final / fc.loss))
    return FamilyReplay(run.run_id, tuple(cuts), tuple(errors))


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


@dataclass(frozen=True)
class Family:
    """The replays of a family's finished runs under one set of priors (`learn_family`).
    `adjustment(fraction, confidence)` is what forecast(..., family=) applies; `without(run_id)`
    leaves a run out (the run being forecast is never its own family)."""

    replays: Tuple[FamilyReplay, ...]
    priors: object
    skipped: Tuple[str, ...] = ()  # runs left out, with the reason

    @property
    def n_runs(self) -> int:
        return len(self.replays)

    def without(self, run_id: Optional[str]) -> "Family":
        if run_id is None:
            return self
        return Family(tuple(r for r in self.replays if r.run_id != str(run_id)), self.priors, self.skipped)

    def errors_at(self, fraction: float) -> np.ndarray:
        """Each run's error at its replayed fraction nearest `fraction`, when within half a step of
        FAMILY_CUTOFFS (none for a forecast from the first 5% of a run)."""
        step = FAMILY_CUTOFFS[1] - FAMILY_CUTOFFS[0]
        out = []
        for r in self.replays:
            if not r.cutoffs:
                continue
            i = int(np.argmin(np.abs(np.asarray(r.cutoffs) - fraction)))
            # beyond the last replayed fraction the last one stands in (a shorter horizon, in units of h)
            if abs(r.cutoffs[i] - min(fraction, FAMILY_CUTOFFS[-1])) <= step / 2 + 1e-9:
                out.append(r.errors[i])
        return np.asarray(out, float)

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
        return FamilyAdjustment(n, bias, min(q_low, 0.0), max(q_high, 0.0), n / (n + FAMILY_PRIOR_RUNS))


def replayed_family(runs: Sequence[FamilyRun], priors, forecast, cache=None) -> Family:
    """The Family of `runs` under `priors`: every run replayed by `forecast` (`replay_run`); `cache`,
    a dict-like keyed by (FamilyRun.key(), repr(priors)) → FamilyReplay, spares the replays already made."""
    replays = []
    for run in runs:
        key = (run.key(), repr(priors))
        replay = cache.get(key) if cache is not None else None
        if replay is None:
            replay = replay_run(run, priors, forecast)
            if cache is not None:
                cache[key] = replay
        elif replay.run_id != run.run_id:
            replay = FamilyReplay(run.run_id, replay.cutoffs, replay.errors)
        replays.append(replay)
    return Family(tuple(replays), priors)
