"""`ForecastEarlyStoppingCallback`: the predictive early-stopping gate in a transformers
`Trainer`, on the forecasts of a ScalingLawTrainerCallback (the rule is `core.gate.PlateauGate`,
as for Lightning's ForecastEarlyStopping)."""
from __future__ import annotations

import logging
from typing import Optional

import transformers

from ..core import tags
from ..core.gate import GateCheck, PlateauGate, gate_outcome
from ..core.history import ForecastRecord
from ..tensorboard import write_advice_text
from .callback import ScalingLawTrainerCallback
from .trainer_access import any_process, find_trainer, optional_trainer, report

log = logging.getLogger(__name__)


class ForecastEarlyStoppingCallback(transformers.TrainerCallback):
    """Stops the Trainer (`control.should_training_stop`) when the forecast says the rest of the
    planned run is not worth it: the fitted `eval_loss` now minus the forecast interval's
    optimistic (low) end at the planned end is below `min_delta` at `patience` consecutive
    evaluations, and the run is at least at `min_steps`. The decision is taken on the main
    process's forecast (sent to every process) and agreed by all processes, so all stop at the
    same step.

    Needs a ScalingLawTrainerCallback with forecasting on in the same Trainer, and is the only
    gate there (a RuntimeError at train begin otherwise). Logs gate/optimistic_gain and gate/wait_count at each check,
    gate/stopped_step and the text gate/reason when it stops. Attributes: `stopped_step` (None when
    it did not stop), `reason`, `last_check`, `wait_count`.
    """

    _scaling_callback = True

    def __init__(self, min_delta: float = 0.01, patience: int = 3, min_steps: int = 0, verbose: bool = False,
                 *, trainer=None):
        self._gate = PlateauGate(min_delta, patience, min_steps)
        self.verbose = bool(verbose)
        self.trainer = optional_trainer(trainer)
        self.stopped_step: Optional[int] = None
        self.reason: Optional[str] = None
        self.last_check: Optional[GateCheck] = None
        self._source: Optional[ScalingLawTrainerCallback] = None

    @property
    def wait_count(self) -> int:
        return self._gate.wait_count

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer = self.trainer or find_trainer(self)
        callbacks = self.trainer.callback_handler.callbacks if self.trainer is not None else []
        gates = [cb for cb in callbacks if isinstance(cb, ForecastEarlyStoppingCallback)]
        if len(gates) > 1:
            raise RuntimeError(f"the Trainer has {len(gates)} {type(self).__qualname__}s; it takes one: they would "
                               "decide on the same forecast and write the same gate/* tags over each other. Keep "
                               "one, with the min_delta, patience and min_steps you want.")
        sources = [cb for cb in callbacks if isinstance(cb, ScalingLawTrainerCallback)]
        forecasting = [cb for cb in sources if cb.tracker.forecasting]
        if not forecasting:
            why = ("the Trainer could not be found from the calling frames (pass trainer=)" if self.trainer is None
                   else "its ScalingLawTrainerCallback has forecast=False" if sources
                   else "the Trainer has no ScalingLawTrainerCallback")
            raise RuntimeError(f"{type(self).__qualname__} stops on the forecasts of a ScalingLawTrainerCallback, but "
                               f"{why}. Use both: Trainer(callbacks=[ScalingLawTrainerCallback(), "
                               "ForecastEarlyStoppingCallback(...)]).")
        self._source = forecasting[0]
        self._source.add_listener(self._forecast_made)

    def on_train_end(self, args, state, control, **kwargs):
        if self._source is not None:
            self._source.remove_listener(self._forecast_made)

    # ---- told by the ScalingLawTrainerCallback after each forecast, on every process ------------
    def _forecast_made(self, record: Optional[ForecastRecord]) -> None:
        """The listener this gate adds to its ScalingLawTrainerCallback (`add_listener`): told
        within the Trainer's evaluate hooks, so the Trainer's own args, state and control are the
        ones the hook was given."""
        trainer = self.trainer
        self.on_forecast(trainer.args, trainer.state, trainer.control, record)

    def on_forecast(self, args, state, control, record: Optional[ForecastRecord]) -> None:
        """Check the gate on `record` and stop the Trainer when it says so (every process)."""
        check = self._gate.check(int(state.global_step), record)
        self.last_check = check
        stop = any_process(check.stop, device=args.device)
        metrics, reason = gate_outcome(check, stop, int(state.global_step), self.stopped_step, peer="process")
        writer = self._source.tracker.writer
        if reason is not None:
            control.should_training_stop = True
            self.stopped_step, self.reason = int(state.global_step), reason
            if writer is not None:
                write_advice_text(writer, self.reason, self.stopped_step, tag=tags.GATE_REASON)
        if self.trainer is not None:
            report(self.trainer, self, args, state, control, metrics, writer=writer)
        if state.is_world_process_zero and (self.verbose or (stop and self.reason)):
            log.info(f"{type(self).__qualname__}: {self.reason if stop else check.reason}")
