"""Compare two fitted families: which reaches the lower loss at each compute, and where they cross.

"Does the new architecture scale better than the baseline?" as numbers with uncertainty: at
each budget C, the compute-optimal loss of each family (each law at its own optimal N, D), the
difference L_A − L_B with a percentile interval, and the share of bootstrap pairs in which A is
lower. The bootstrap refits of the two fits are independent resamples, so the k-th refit of A
paired with the k-th of B is a draw of the difference. The crossing is the budget where the two
frontiers meet, searched on a log grid of budgets (`CROSSING_RANGE`).

numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ..checks import positive_number
from ..status import ScalingLawError
from .result import Estimate, ScalingLawFit

__all__ = ["NO_CLEAR_DIFFERENCE", "NO_DIFFERENCE", "Comparison", "ComparisonRow", "compare_fits"]

CROSSING_RANGE = (1e12, 1e32)  # FLOPs searched for a crossing: far below and beyond any run today
_CROSSING_POINTS = 401  # 20 per decade
# a difference within this share of the losses is float round-off of one law evaluated twice (a
# fit compared with itself), not a difference: losses are measured to 1e-4 at best
SAME_LOSS_RTOL = 1e-12
NO_DIFFERENCE = "no difference"  # `ComparisonRow.lower` where A and B give the same loss
NO_CLEAR_DIFFERENCE = "no clear difference"  # ... where the interval of A − B contains 0


@dataclass(frozen=True)
class ComparisonRow:
    """Both families at one budget."""

    compute: float
    loss_a: Estimate  # compute-optimal loss of A at this budget
    loss_b: Estimate
    difference: Estimate  # loss_a − loss_b (negative: A lower)
    a_lower_share: Optional[float]  # share of bootstrap pairs with A lower, a tie counting half (None without bootstrap)

    @property
    def lower(self) -> str:
        """Which family is lower at this budget, as far as the fits tell: 'A' or 'B' when the
        interval of A − B lies on one side of 0 (without intervals: the point estimate's sign);
        `NO_DIFFERENCE` when A − B and its interval are 0 (say, a fit compared with itself);
        `NO_CLEAR_DIFFERENCE` when the interval contains 0."""
        d = self.difference
        tol = SAME_LOSS_RTOL * max(abs(self.loss_a.value), abs(self.loss_b.value))
        if abs(d.value) <= tol and (d.low is None or max(abs(d.low), abs(d.high)) <= tol):
            return NO_DIFFERENCE
        if d.low is not None and d.low <= 0.0 <= d.high:
            return NO_CLEAR_DIFFERENCE
        side = d.value if d.low is None else d.high if d.high < 0 else d.low
        return "A" if side < 0 else "B"


@dataclass(frozen=True)
class Comparison:
    rows: Tuple[ComparisonRow, ...]
    crossing: Optional[float]  # budget where the point-estimate frontiers cross (None: no crossing)
    crossing_interval: Optional[Tuple[float, float]]  # percentile interval over bootstrap pairs that cross
    crossing_share: Optional[float]  # share of bootstrap pairs that cross within CROSSING_RANGE
    confidence: float


def _frontier_loss(law, compute):
    """Loss of `law` at its compute-optimal (N, D) for each budget (nan without an allocation)."""
    N, D = law.compute_optimal(np.asarray(compute, float))
    with np.errstate(all="ignore"):
        return np.asarray(law.loss(N, D), float)


def _crossing(law_a, law_b) -> Optional[float]:
    """The first budget in CROSSING_RANGE where the frontiers swap order (log-linear root)."""
    grid = np.logspace(math.log10(CROSSING_RANGE[0]), math.log10(CROSSING_RANGE[1]), _CROSSING_POINTS)
    diff = _frontier_loss(law_a, grid) - _frontier_loss(law_b, grid)
    ok = np.isfinite(diff)
    grid, diff = grid[ok], diff[ok]
    flips = np.flatnonzero(np.sign(diff[:-1]) * np.sign(diff[1:]) < 0)
    if flips.size == 0:
        return None
    i = flips[0]
    x0, x1 = math.log(grid[i]), math.log(grid[i + 1])
    t = diff[i] / (diff[i] - diff[i + 1])
    return math.exp(x0 + t * (x1 - x0))


def compare_fits(fit_a: ScalingLawFit, fit_b: ScalingLawFit, budgets: Sequence[float]) -> Comparison:
    """Compare the compute-optimal frontiers of two fits at `budgets` (FLOPs), with intervals.

    Intervals are at the lower of the two fits' confidence levels. Raises ScalingLawError when
    a budget is not a positive number or a law has no compute-optimal allocation.
    """
    budgets = list(budgets)
    if not budgets:
        raise ScalingLawError("give at least one compute budget to compare at")
    for c in budgets:
        positive_number(c, "every compute budget", error=ScalingLawError, what="a positive finite number")
    for name, fit in (("A", fit_a), ("B", fit_b)):
        if not np.all(np.isfinite(_frontier_loss(fit.law, budgets))):
            raise ScalingLawError(f"fit {name} ({fit.form}) has no compute-optimal allocation: an exponent is 0")
    confidence = min(fit_a.confidence, fit_b.confidence)
    tail = 50.0 * (1.0 - confidence)
    pairs = list(zip(fit_a.bootstrap_laws, fit_b.bootstrap_laws))

    def interval(value, samples):
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            return Estimate(float(value))
        low, high = np.percentile(samples, [tail, 100.0 - tail])
        return Estimate(float(value), float(low), float(high))

    C = np.asarray(budgets, float)
    la, lb = _frontier_loss(fit_a.law, C), _frontier_loss(fit_b.law, C)
    boot_a = np.array([_frontier_loss(a, C) for a, _ in pairs]).reshape(len(pairs), C.size)
    boot_b = np.array([_frontier_loss(b, C) for _, b in pairs]).reshape(len(pairs), C.size)
    rows = []
    for j, c in enumerate(C):
        d = boot_a[:, j] - boot_b[:, j]
        finite = d[np.isfinite(d)]
        rows.append(ComparisonRow(
            compute=float(c),
            loss_a=interval(la[j], boot_a[:, j]),
            loss_b=interval(lb[j], boot_b[:, j]),
            difference=interval(la[j] - lb[j], d),
            a_lower_share=float(np.mean(finite < 0) + 0.5 * np.mean(finite == 0)) if finite.size else None))
    crossing = _crossing(fit_a.law, fit_b.law)
    crossing_interval = crossing_share = None
    if pairs:
        crossings = [_crossing(a, b) for a, b in pairs]
        found = np.array([x for x in crossings if x is not None])
        crossing_share = found.size / len(pairs)
        if found.size:
            low, high = np.exp(np.percentile(np.log(found), [tail, 100.0 - tail]))
            crossing_interval = (float(low), float(high))
    return Comparison(tuple(rows), crossing, crossing_interval, crossing_share, confidence)
