"""`TrialReporter`: a run's validations reported to an `optuna.Trial`, with the plan a
`ForecastPruner` needs, and what a pruned trial keeps (any loop: a plain loop's ScalingTracker,
and the Lightning and HF callbacks, which use it)."""
from __future__ import annotations

import math
from typing import Optional

import optuna

from .optuna_pruner import ForecastPruner
from .trial_attrs import FORECAST, forecast_attr, plan_attrs

VALUES_ON_PRUNE = ("forecast", "last")


class TrialReporter:
    """Reports validation losses to `trial` and raises `optuna.TrialPruned` when it is pruned.

        tracker = ScalingTracker(model, planned_steps=2000, optimizer=opt, schedulers=sched)
        TrialReporter(trial).follow(tracker)    # every tracker.observe() reports, and may raise TrialPruned

    `follow(tracker)` reports each of the tracker's validations (at its forecast, so the
    tracker must forecast) and sets the trial's plan from the tracker before the first:
    its planned end and learning-rate knots, as user attributes the pruner reads
    (`trial_attrs`). Without a tracker: `plan(planned_end, lr)` once, then `report(step, loss)`.

    value_on_prune: "forecast" (default): a trial pruned by a `ForecastPruner` keeps the
        forecast it was pruned on as its value (reported at its planned end, which Optuna makes
        a pruned trial's value, so samplers learn from it) and the forecast with its interval
        as the user attribute `trial_attrs.FORECAST`; "last": Optuna's own, the last reported loss.
    reports: False when someone else reports the losses and prunes (the HF Trainer's
        `hyperparameter_search` does): then this only plans, and `keep_pruned_forecast()`.
    """

    def __init__(self, trial: "optuna.Trial", *, value_on_prune: str = "forecast", reports: bool = True):
        if not hasattr(trial, "report") or not hasattr(trial, "set_user_attr"):
            raise TypeError(f"trial must be an optuna.Trial, got {type(trial).__name__}")
        if value_on_prune not in VALUES_ON_PRUNE:
            raise ValueError(f"value_on_prune must be one of {VALUES_ON_PRUNE}, got {value_on_prune!r}")
        self.trial = trial
        self.value_on_prune = value_on_prune
        self.reports = bool(reports)
        self.planned = False
        self.pruned_at: Optional[int] = None  # the step the trial was pruned at
        self._tracker = None

    # ---- the plan --------------------------------------------------------------------------
    def plan(self, planned_end: int, lr=None) -> None:
        """Set the trial's planned end and learning-rate knots (steps, rates) (None: unknown)."""
        for key, value in plan_attrs(planned_end, lr).items():
            self.trial.set_user_attr(key, value)
        self.planned = True

    def plan_from(self, tracker) -> None:
        """The plan of a ScalingTracker (its planned end and simulated schedule)."""
        if tracker.planned_steps is None:
            raise ValueError("the run has no planned end: a ForecastPruner judges a trial by its loss at its "
                             "planned end (pass planned_steps=, or max_steps to the Trainer)")
        schedule = tracker.planned_schedule
        self.plan(tracker.planned_steps, schedule.knots() if schedule is not None else None)

    # ---- following a tracker ---------------------------------------------------------------
    def follow(self, tracker) -> None:
        """Report every validation `tracker` forecasts at (its listener)."""
        if not tracker.forecasting:
            raise ValueError("the tracker does not forecast (forecast=False): TrialReporter reports at its forecasts")
        if self._tracker is not None and self._tracker is not tracker:
            raise RuntimeError("this TrialReporter already follows another tracker: one trial, one run")
        tracker.add_listener(self._validated)
        self._tracker = tracker

    def unfollow(self) -> None:
        """Stop following the tracker."""
        if self._tracker is not None:
            self._tracker.remove_listener(self._validated)
        self._tracker = None

    def _validated(self, record) -> None:
        self.validated(self._tracker)

    def validated(self, tracker) -> None:
        """`tracker` has just observed (and forecast at) a validation: plan the trial from it
        before the first, then report the validation's loss (unless `reports` is False)."""
        if not self.planned:
            self.plan_from(tracker)
        observation = tracker.history[-1]
        if self.reports:
            self.report(observation.step, observation.val_loss)

    # ---- each validation -------------------------------------------------------------------
    def report(self, step: int, loss: float) -> None:
        """Report `loss` at `step` (a non-finite loss is not reported); raise optuna.TrialPruned
        when the study's pruner says so."""
        if not self.planned:
            raise RuntimeError("plan(planned_end, lr) first: the pruner needs the trial's planned end")
        if loss is None or not math.isfinite(loss):
            return
        self.trial.report(float(loss), int(step))
        if self.trial.should_prune():
            self.keep_pruned_forecast(step)
            raise optuna.TrialPruned(self.reason(step))

    def keep_pruned_forecast(self, step: int) -> bool:
        """When the study's ForecastPruner pruned the trial at `step`: keep its forecast (the
        attribute, and with value_on_prune="forecast" the trial's value). Whether it did."""
        judged = self._decision()
        if judged is None or not judged[0].prune or judged[0].step != int(step) or judged[1] is None:
            return False
        decision, forecast = judged
        self.pruned_at = decision.step
        self.trial.set_user_attr(FORECAST, forecast_attr(forecast, decision))
        if self.value_on_prune == "forecast":
            self.trial.report(forecast.loss, forecast.target_step)  # a pruned trial's value: its last report
        return True

    def reason(self, step: int) -> str:
        judged = self._decision()
        if judged is not None and judged[0].step == int(step):
            return f"trial {self.trial.number} pruned at {judged[0].reason}"
        return f"trial {self.trial.number} pruned at step {step}"

    def _decision(self):
        pruner = getattr(self.trial.study, "pruner", None)
        if not isinstance(pruner, ForecastPruner):
            return None
        return pruner.decision(self.trial.study.study_name, self.trial.number)
