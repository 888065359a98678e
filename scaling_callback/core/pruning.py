"""The pruning rule of a hyperparameter search that judges each trial by the forecast of its own
final loss (plain Python): prune a trial when the probability that its loss at its planned end
beats the reference (the best finished trial's final loss, or the k-th best for a top-k search)
is below a threshold, and never before a warm-up fraction of the trial's planned end.

Every pruner of the usual tools (median, percentile, successive halving, Hyperband, ASHA)
compares trials at the same step, which a learning-rate schedule makes wrong in a known way: a
warmup-stable-decay trial sits above a cosine trial until its cool-down and ends below it. The
forecast is made at each trial's own planned end under its own schedule, so it is not.

The forecast's distribution is read from its quantiles: the median `loss` and the interval
(`low`, `high`) of probability `confidence`, as a two-piece normal (each side its own scale,
each holding half the mass) that has exactly those three quantiles. Optuna and Ray Tune adapters
(scaling_callback/sweeps/) feed this rule; it imports neither.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterable

from .checks import whole_number

# The threshold the replay of finished studies chose (benchmarks/pruning_replay.py): the largest,
# so the least compute, at which the best trial survived every trial order of every development
# source; a trial is judged at every report, so a higher one adds up to lost best trials.
DEFAULT_THRESHOLD = 0.01
# The warm-up of the same replay: the forecasts of shorter prefixes gained little compute there.
DEFAULT_WARMUP_FRACTION = 0.2


def beat_probability(loss: float, low: float, high: float, confidence: float, reference: float) -> float:
    """P(final loss < reference) under the two-piece normal with median `loss` whose central
    `confidence` interval is (low, high). An interval of zero width on a side is a step there."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    gap = reference - loss
    scale = (loss - low) / z if gap < 0 else (high - loss) / z
    if scale <= 0:
        return 0.5 if gap == 0 else float(gap > 0)
    return NormalDist().cdf(gap / scale)


def reference_loss(finished: Iterable[float], top_k: int = 1) -> float:
    """The k-th best (lowest) finite final loss of the finished trials; NaN when fewer than k."""
    values = sorted(v for v in finished if math.isfinite(v))
    return values[top_k - 1] if len(values) >= top_k else math.nan


@dataclass(frozen=True)
class PruneDecision:
    """One judgement of a trial at `step`: whether to prune, the probability that it beats the
    reference (NaN when it was not judged), the reference, and why, in words."""

    step: int
    planned_end: int
    prune: bool
    probability: float
    reference: float
    reason: str


class ForecastPruneRule:
    """Prune when P(final loss < k-th best finished final loss) < `threshold`.

    threshold: probability below which a trial is pruned (in (0, 1)).
    warmup_fraction: no trial is pruned before this fraction of its own planned end (in [0, 1)).
    top_k: compare with the k-th best finished trial (1: the best): a top-k search keeps a trial
        that may still enter the top k.
    A trial is never pruned without a forecast (`loss` NaN), with fewer than `top_k` finished
    trials, or at or past its planned end.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 top_k: int = 1):
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be a probability in (0, 1), got {threshold!r}")
        if (isinstance(warmup_fraction, bool) or not isinstance(warmup_fraction, (int, float))
                or not 0.0 <= warmup_fraction < 1.0):
            raise ValueError(f"warmup_fraction must be a fraction of the planned end in [0, 1), got {warmup_fraction!r}")
        self.threshold = float(threshold)
        self.warmup_fraction = float(warmup_fraction)
        self.top_k = whole_number(top_k, "top_k", minimum=1, what="a whole number >= 1")

    def warmup_steps(self, planned_end: int) -> int:
        """The first step at which a trial planned to end at `planned_end` may be pruned."""
        return int(math.ceil(self.warmup_fraction * planned_end))

    def judges(self, step: int, planned_end: int, finished: Iterable[float]) -> bool:
        """Whether a trial at `step` is judged at all (past its warm-up, before its planned end,
        with `top_k` finished trials): only then is its forecast needed."""
        return (self.warmup_steps(planned_end) <= step < planned_end
                and math.isfinite(reference_loss(finished, self.top_k)))

    def decide(self, step: int, planned_end: int, loss: float, low: float, high: float, confidence: float,
               finished: Iterable[float]) -> PruneDecision:
        """Judge a trial at `step` on its forecast (loss, low, high at `confidence`) at
        `planned_end`, against the final losses of the `finished` trials."""
        reference = reference_loss(finished, self.top_k)
        nan = math.nan

        def keep(why: str) -> PruneDecision:
            return PruneDecision(step, planned_end, False, nan, reference, f"step {step}: {why}")

        if step < self.warmup_steps(planned_end):
            return keep(f"in the warm-up (before step {self.warmup_steps(planned_end)} of {planned_end})")
        if step >= planned_end:
            return keep(f"at its planned end {planned_end}, nothing left to save")
        if not math.isfinite(reference):
            return keep(f"fewer than {self.top_k} finished trial(s) to compare with")
        if not all(math.isfinite(v) for v in (loss, low, high)):
            return keep("no forecast")
        p = beat_probability(loss, low, high, confidence, reference)
        rank = "the best" if self.top_k == 1 else f"the {self.top_k}-th best"
        words = (f"forecast {loss:.4g} [{low:.4g}, {high:.4g}] at step {planned_end}; P(< {reference:.4g}, {rank} "
                 f"finished) = {p:.3g}")
        prune = p < self.threshold
        verdict = "below" if prune else "not below"
        return PruneDecision(step, planned_end, prune, p, reference,
                             f"step {step}: {words}, {verdict} the threshold {self.threshold:g}")
