"""Has the ladder decided? The compute-optimal N, D of a budget from a law fitted on a ladder
still training, and whether finishing the ladder could still move N_opt much (numpy only).

The rule: the ladder has decided at a budget when the law's `ladder_laws` (refits on draws of
the unfinished runs' forecasts alone, every point once: what finishing them could change) put
N_opt within a factor `factor` of the fit's N_opt at both ends of their interval. The resampling
spread of the bootstrap is left out on purpose: more training of the same runs cannot shrink it,
only more runs can. A ladder of finished runs has decided.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..status import ScalingLawError
from .result import ComputeOptimal, Estimate, ScalingLawFit

__all__ = ["DECIDED_FACTOR", "LadderDecision", "Moved", "ladder_decision", "moved_since"]

# issue 28's target for a ladder at 40% of its runs: N_opt within 1.3× of the finished ladder's
DECIDED_FACTOR = 1.3


@dataclass(frozen=True)
class LadderDecision:
    """The allocation of one budget and how far finishing the ladder could still move N_opt."""

    allocation: ComputeOptimal  # N, D, loss with the fit's full intervals
    n_opt_moves: Estimate  # N_opt over the ladder laws: value and the interval finishing could reach
    factor: float

    @property
    def decided(self) -> bool:
        """Finishing the ladder cannot move N_opt by more than `factor` either way."""
        return self.move_factor <= self.factor

    @property
    def move_factor(self) -> float:
        """The largest ratio, either way, between N_opt and the ends of `n_opt_moves` (1 when
        every run finished)."""
        m = self.n_opt_moves
        if m.low is None:
            return 1.0
        return max(m.high / m.value, m.value / m.low)


def ladder_decision(fit: ScalingLawFit, compute: float, factor: float = DECIDED_FACTOR) -> LadderDecision:
    """Compute-optimal N, D for `compute` FLOPs and whether the ladder has decided them (module
    docstring); ScalingLawError for a factor not above 1 or a law with no allocation."""
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 1.0:
        raise ScalingLawError(f"factor must be a number above 1 (how far N_opt may still move), got {factor!r}")
    allocation = fit.compute_optimal(compute)
    moves = fit.ladder_spread(lambda law: law.compute_optimal(compute)[0])
    return LadderDecision(allocation, moves, float(factor))


@dataclass(frozen=True)
class Moved:
    """The compute-optimal N, D of one budget under an earlier fit and now, and the factors
    (now / then) they moved by."""

    compute: float
    then: ComputeOptimal
    now: ComputeOptimal

    @property
    def n_factor(self) -> float:
        return self.now.N.value / self.then.N.value

    @property
    def d_factor(self) -> float:
        return self.now.D.value / self.then.D.value


def moved_since(previous: ScalingLawFit, now: ComputeOptimal) -> Moved:
    """How far N_opt, D_opt of `now`'s budget moved since the fit `previous` (e.g. the last fit
    of the same ladder, saved); ScalingLawError when the earlier law has no allocation."""
    try:
        then = previous.compute_optimal(now.compute)
    except ScalingLawError as exc:
        raise ScalingLawError(f"the earlier fit has no compute-optimal allocation to compare with: {exc}") from None
    return Moved(now.compute, then, now)
