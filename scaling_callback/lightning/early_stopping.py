"""The framework-free core of ForecastEarlyStopping: a predictive early-stopping gate on the
forecasts of a ScalingLawCallback in the same Trainer.

Like `callback.ScalingLawCore` it implements Lightning hooks against a duck-typed trainer;
`namespaces.py` puts it over each namespace's `Callback` base class. The rule itself is
`core.gate.PlateauGate`.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..core import tags
from ..core.gate import GateCheck, PlateauGate, gate_outcome
from ..core.history import ForecastRecord
from ..tensorboard import write_advice_text
from .callback import ScalingLawCore
from .report import tensorboard_writers
from .terminal import log


class ForecastEarlyStoppingCore:
    """Stops the run when the forecast says the rest of the planned run is not worth it.

    At every validation end a ScalingLawCallback in the same Trainer forecasts the loss at the
    planned end with an interval; this gate asks how much the run could still improve even at
    the interval's optimistic (low) end: the fitted loss now minus that low end. When it is
    below `min_delta` for `patience` consecutive validations, and the run is at least at
    `min_steps`, it sets `trainer.should_stop`. The Trainer's own `min_steps`/`min_epochs` still
    take precedence (Lightning ignores should_stop until they are reached).

    The forecast is made on global rank zero and broadcast, so every rank checks the same
    numbers; the decision is then reduced over ranks (`strategy.reduce_boolean_decision`, a
    collective every rank calls), so every rank stops at the same step.

    Args:
        min_delta: loss improvement (in the monitored metric's units) still worth training for.
        patience: consecutive validations below `min_delta` before stopping.
        min_steps: never stop before this optimizer step.
        verbose: log each check's reason at INFO level (logger "scaling_callback", shown in the
            terminal unless logging is configured otherwise) on global rank zero; the stop
            itself is always logged, like Lightning's EarlyStopping says why it stopped.

    Attributes: `stopped_step` (the global step it stopped at, None when it did not), `reason`
    (why, in words; None when it did not stop), `last_check` (the latest `gate.GateCheck`),
    `wait_count`. Logged: gate/optimistic_gain, gate/wait_count at each check, gate/stopped_step
    when it stops, and the reason as TensorBoard text "gate/reason". Kept across checkpoint
    resume. Raises RuntimeError when fitting starts and the Trainer has no ScalingLawCallback
    forecasting.
    """

    def __init__(self, min_delta: float = 0.01, patience: int = 3, min_steps: int = 0, verbose: bool = False):
        self._gate = PlateauGate(min_delta, patience, min_steps)
        self.verbose = bool(verbose)
        self.stopped_step: Optional[int] = None
        self.reason: Optional[str] = None
        self.last_check: Optional[GateCheck] = None
        self._source: Optional[ScalingLawCore] = None
        self._trainer = None  # the Trainer fitting, between setup and teardown (for `_forecast_made`)

    @property
    def min_delta(self) -> float:
        return self._gate.min_delta

    @property
    def patience(self) -> int:
        return self._gate.patience

    @property
    def min_steps(self) -> int:
        return self._gate.min_steps

    @property
    def wait_count(self) -> int:
        return self._gate.wait_count

    # ---- Lightning hooks -----------------------------------------------------------------
    @property
    def state_key(self) -> str:
        return type(self).__qualname__

    def setup(self, trainer, pl_module, stage) -> None:
        if stage != "fit":  # it only acts while fitting
            return
        sources = [cb for cb in trainer.callbacks if isinstance(cb, ScalingLawCore)]
        forecasting = [cb for cb in sources if cb.forecasting]
        if not forecasting:
            why = ("its ScalingLawCallback has forecast=False" if sources
                   else "the Trainer has no ScalingLawCallback")
            raise RuntimeError(f"{type(self).__qualname__} stops on the forecasts of a ScalingLawCallback, but {why}. "
                               "Use both: Trainer(callbacks=[ScalingLawCallback(), ForecastEarlyStopping(...)]).")
        self._source, self._trainer = forecasting[0], trainer
        self._source.add_listener(self._forecast_made)

    def teardown(self, trainer, pl_module, stage) -> None:
        if self._source is not None:
            self._source.remove_listener(self._forecast_made)
        self._trainer = None

    def state_dict(self) -> Dict[str, object]:
        return {**self._gate.state_dict(), "stopped_step": self.stopped_step, "reason": self.reason}

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        self._gate.load_state_dict(state_dict)
        stopped = state_dict["stopped_step"]
        self.stopped_step = None if stopped is None or stopped == 0 else int(stopped)  # 0: "not stopped" before
        self.reason = state_dict["reason"]

    # ---- told by the ScalingLawCallback after each forecast, on every rank ---------------
    def _forecast_made(self, record: Optional[ForecastRecord]) -> None:
        """The listener this gate adds to its ScalingLawCallback (`add_listener`)."""
        self.on_forecast(self._trainer, record)

    def on_forecast(self, trainer, record: Optional[ForecastRecord]) -> None:
        """Check the gate on `record` and stop the Trainer when it says so (every rank)."""
        if getattr(trainer, "fast_dev_run", False):
            return
        check = self._gate.check(int(trainer.global_step), record)
        self.last_check = check
        stop = bool(trainer.strategy.reduce_boolean_decision(check.stop, all=False))
        metrics, reason = gate_outcome(check, stop, int(trainer.global_step), self.stopped_step, peer="rank")
        if reason is not None:
            trainer.should_stop = True
            self.stopped_step, self.reason = int(trainer.global_step), reason
            self._write_reason(trainer)
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        if trainer.is_global_zero and (self.verbose or (stop and self.reason)):
            log.info(f"{type(self).__qualname__}: {self.reason if stop else check.reason}")

    def _write_reason(self, trainer) -> None:
        if not trainer.is_global_zero:
            return
        for writer in tensorboard_writers(trainer):
            write_advice_text(writer, self.reason, trainer.global_step, tag=tags.GATE_REASON)
