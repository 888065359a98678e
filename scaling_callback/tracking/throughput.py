"""Training throughput from the counts the callback already reads at each validation: tokens
per second, FLOP per second and the time left to the planned end (plain Python; no device
sync of its own, no per-step work).

Between two validation ends the wall time splits into training (from the previous validation
end, or the start of training, to this validation's start) and validating. The rates divide
the tokens and FLOPs counted over the interval by its training time, like Lightning's
ThroughputMonitor; the time left multiplies the steps left by the wall time per step of the
whole interval, validation included, since the rest of the run validates too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from ..core import tags


@dataclass(frozen=True)
class Rates:
    tokens_per_second: float
    flops_per_second: float
    seconds_to_end: Optional[float]  # None without a planned end

    def metrics(self) -> Dict[str, float]:
        out = {tags.TOKENS_PER_SECOND: self.tokens_per_second, tags.FLOPS_PER_SECOND: self.flops_per_second}
        if self.seconds_to_end is not None:
            out[tags.SECONDS_TO_PLANNED_END] = self.seconds_to_end
        return out


class Throughput:
    """Call `start(step, tokens, flops)` when training starts (or resumes), `validation_started()`
    at each validation start and `rates(step, tokens, flops, planned_end)` at its end."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self._last = None  # (time, step, tokens, flops) at the previous validation end or the start
        self._validation_start: Optional[float] = None
        self.training_seconds = 0.0  # training time counted so far (validations left out)

    def start(self, step: int, tokens: float, flops: float) -> None:
        self._last = (self._clock(), int(step), float(tokens), float(flops))
        self._validation_start = None

    def validation_started(self) -> None:
        self._validation_start = self._clock()

    def rates(self, step: int, tokens: float, flops: float, planned_end: Optional[int]) -> Optional[Rates]:
        """The rates over the interval since the previous call (or `start`); None for an empty
        interval (no step or no time between)."""
        now = self._clock()
        last, self._last = self._last, (now, int(step), float(tokens), float(flops))
        began = self._validation_start if self._validation_start is not None else now
        self._validation_start = None
        if last is None:
            return None
        t0, step0, tokens0, flops0 = last
        train = began - t0
        steps = int(step) - step0
        if train <= 0 or steps <= 0 or now <= t0:
            return None
        self.training_seconds += train
        per_step = (now - t0) / steps
        left = None if planned_end is None else max(int(planned_end) - int(step), 0) * per_step
        return Rates((float(tokens) - tokens0) / train, (float(flops) - flops0) / train, left)
