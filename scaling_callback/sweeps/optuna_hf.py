"""`OptunaPruningTrainerCallback`: a transformers TrainerCallback that gives an Optuna trial the
run's plan and validations, on the forecasts of a ScalingLawTrainerCallback in the same Trainer,
for a study pruned by a `ForecastPruner`; with `Trainer.hyperparameter_search(backend="optuna")`
or with a trial of your own."""
from __future__ import annotations

from typing import Optional

import optuna
import transformers

from ..hf.callback import ScalingLawTrainerCallback
from ..hf.trainer_access import find_trainer, optional_trainer
from .optuna_trial import TrialReporter


class OptunaPruningTrainerCallback(transformers.TrainerCallback):
    """Reports each evaluation's loss to an Optuna trial with the run's planned end and learning
    rate schedule, and stops the trial when the study prunes it.

    Under `trainer.hyperparameter_search(backend="optuna", pruner=ForecastPruner(), ...)` leave
    `trial` None: the Trainer reports its objective and prunes itself; this callback gives each
    trial its plan (user attributes) and, when the ForecastPruner prunes it, keeps the forecast
    (`TrialReporter`, value_on_prune). The objective must be the monitored loss (the default
    objective is `eval_loss` when no `compute_metrics` is given).

    With a trial of your own (`trial=`, your objective calls `trainer.train()`), this callback
    reports each evaluation and, when pruned, ends training as the Trainer's own search does
    (every callback's on_train_end) and raises `optuna.TrialPruned` out of `trainer.train()`.

    Needs a ScalingLawTrainerCallback that forecasts in the same Trainer (a RuntimeError at train
    begin otherwise) and one process.
    """

    _scaling_callback = True  # not called back by the reports the ScalingLawTrainerCallback sends

    def __init__(self, trial: Optional["optuna.Trial"] = None, value_on_prune: str = "forecast", *, trainer=None):
        self.trial = trial
        self.value_on_prune = value_on_prune
        self.trainer = optional_trainer(trainer)
        self.reporter: Optional[TrialReporter] = None
        if trial is not None:
            TrialReporter(trial, value_on_prune=value_on_prune)  # checks the arguments now
        self._source: Optional[ScalingLawTrainerCallback] = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer = self.trainer or find_trainer(self)
        callbacks = self.trainer.callback_handler.callbacks if self.trainer is not None else []
        sources = [cb for cb in callbacks if isinstance(cb, ScalingLawTrainerCallback) and cb.tracker.forecasting]
        if not sources:
            why = ("the Trainer could not be found from the calling frames (pass trainer=)" if self.trainer is None
                   else "the Trainer has no ScalingLawTrainerCallback that forecasts")
            raise RuntimeError(f"{type(self).__qualname__} reports at the forecasts of a ScalingLawTrainerCallback, "
                               f"but {why}.")
        searched = getattr(self.trainer, "_trial", None)  # the trial of Trainer.hyperparameter_search, if any
        trial = self.trial if self.trial is not None else searched
        if trial is None or not hasattr(trial, "report"):
            raise RuntimeError(f"{type(self).__qualname__} has no Optuna trial: pass trial=, or run it under "
                               "trainer.hyperparameter_search(backend='optuna', ...)")
        own = trial is not searched or self.trainer.hp_search_backend is None
        self.reporter = TrialReporter(trial, value_on_prune=self.value_on_prune, reports=own)
        self._source = sources[0]
        self._source.add_listener(self._validated)

    def _validated(self, record) -> None:
        """After each forecast of the ScalingLawTrainerCallback (within the Trainer's evaluate)."""
        try:
            self.reporter.validated(self._source.tracker)
        except optuna.TrialPruned:
            trainer = self.trainer
            trainer.callback_handler.on_train_end(trainer.args, trainer.state, trainer.control)
            raise

    def on_train_end(self, args, state, control, **kwargs):
        if self.reporter is None:
            return
        if not self.reporter.reports:  # the Trainer's search prunes right after this hook when it does
            self.reporter.keep_pruned_forecast(int(state.global_step))
        self._source.remove_listener(self._validated)
        self.reporter = None
