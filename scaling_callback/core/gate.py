"""The predictive early-stopping rule, framework-free (plain Python): stop when the forecast,
even at its optimistic end, predicts less than `min_delta` improvement over the rest of the
planned run, at `patience` consecutive checks, and not before `min_steps`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from . import tags
from .checks import positive_number, whole_number
from .history import ForecastRecord


@dataclass(frozen=True)
class GateCheck:
    """One check of the rule."""

    step: int
    gain: float  # fitted loss now − interval's low end at the target (NaN without a forecast)
    below: bool  # gain < min_delta
    wait_count: int  # consecutive checks below min_delta, this one included
    stop: bool
    reason: str  # the decision in words


class PlateauGate:
    """Counts consecutive forecasts whose optimistic improvement is below `min_delta`.

    The improvement is `ForecastRecord.optimistic_gain`: the loss now (the fitted curve at the
    current step, not the noisy point) minus the lower end of the forecast interval at the
    planned end. Taking the optimistic end means a wide, uncertain interval never stops a run.
    A check without a forecast (none could be made) resets the count: only consecutive
    forecasts agreeing on a plateau stop the run. Before `min_steps` the count still runs but
    the run is not stopped. At or past the forecast's target step there is nothing left to save:
    no decision, the count is kept.
    """

    def __init__(self, min_delta: float = 0.01, patience: int = 3, min_steps: int = 0):
        self.min_delta = positive_number(min_delta, "min_delta", what="a positive loss difference")
        self.patience = whole_number(patience, "patience", minimum=1, what="a whole number >= 1")
        self.min_steps = whole_number(min_steps, "min_steps", minimum=0)
        self.wait_count = 0

    def check(self, step: int, record: Optional[ForecastRecord]) -> GateCheck:
        if record is None or not record.ok or not math.isfinite(record.optimistic_gain):
            self.wait_count = 0
            why = "no forecast" if record is None else f"no forecast ({record.reason})"
            return GateCheck(step, math.nan, False, 0, False, f"step {step}: {why}; the count restarts")
        if step >= record.target_step:
            return GateCheck(step, math.nan, False, self.wait_count, False,
                             f"step {step}: at the forecast's target step {record.target_step}, nothing left to save")
        gain = record.optimistic_gain
        below = gain < self.min_delta
        self.wait_count = self.wait_count + 1 if below else 0
        words = (f"at step {step} the forecast predicts at most {gain:.4g} improvement by step "
                 f"{record.target_step} (fitted {record.fitted_loss:.4g} now, interval's optimistic end "
                 f"{record.low:.4g})")
        if not below:
            return GateCheck(step, gain, False, 0, False, f"{words}, not below min_delta={self.min_delta:g}")
        stop = self.wait_count >= self.patience and step >= self.min_steps
        if stop:
            reason = (f"Stopped: {words}, below min_delta={self.min_delta:g} for {self.wait_count} consecutive "
                      f"checks (patience {self.patience}).")
        elif self.wait_count >= self.patience:
            reason = f"{words}, below min_delta for {self.wait_count} checks, but min_steps={self.min_steps} not reached"
        else:
            reason = f"{words}, below min_delta={self.min_delta:g}: {self.wait_count} of {self.patience} checks"
        return GateCheck(step, gain, True, self.wait_count, stop, reason)

    def state_dict(self) -> Dict[str, int]:
        return {"wait_count": self.wait_count}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        self.wait_count = int(state["wait_count"])


def gate_outcome(check: GateCheck, stop: bool, step: int, stopped_step: Optional[int],
                 peer: str = "rank") -> Tuple[Dict[str, float], Optional[str]]:
    """What a gate adapter logs after a check, and why the run stops now (None when it does not
    stop at this check). `stop` is the decision agreed by every process (one may stop on a
    check of its own); `stopped_step` is where the gate stopped already (None: not yet)."""
    metrics = {tags.GATE_WAIT: float(check.wait_count)}
    if math.isfinite(check.gain):
        metrics[tags.GATE_GAIN] = check.gain
    if not stop or stopped_step is not None:
        return metrics, None
    metrics[tags.GATE_STOPPED] = float(step)
    reason = check.reason if check.stop else f"Stopped at step {step}: another {peer} decided to."
    return metrics, reason
