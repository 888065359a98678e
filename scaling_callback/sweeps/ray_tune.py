"""`ForecastScheduler`: a Ray Tune TrialScheduler that stops a trial when the forecast of its own
final loss is unlikely to beat the best finished trial (the rule: core/pruning.py), reading the
forecast a ScalingTracker reports with each result (`tune_result`)."""
from __future__ import annotations

import math
from typing import Dict, List, Optional

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from ..core import tags
from ..core.pruning import DEFAULT_THRESHOLD, DEFAULT_WARMUP_FRACTION, ForecastPruneRule, PruneDecision
from ..core.trial_curve import TrialCurve

STEP = "step"  # the key of the optimizer step in a result (tune_result)


def tune_result(tracker, report) -> Dict[str, float]:
    """The result to `ray.tune.report` after `report = tracker.observe(step, val_loss)`: every
    tag the tracker logged (the forecast of the final loss with its interval and planned end
    among them), the monitored loss under the tracker's `monitor`, the step and the interval's
    probability."""
    observation = report.observation
    return {**report.metrics, tracker.monitor: observation.val_loss, STEP: observation.step,
            tags.FORECAST_CONFIDENCE: tracker.confidence}


class ForecastScheduler(FIFOScheduler):
    """Stops a trial when P(its final loss < the best finished trial's) < `threshold`, on the
    forecast its ScalingTracker made at its own planned end (results from `tune_result`).

        tuner = tune.Tuner(train, tune_config=tune.TuneConfig(metric="val_loss", mode="min",
                                                              scheduler=ForecastScheduler()))

    threshold, warmup_fraction, top_k: the rule's (`core.pruning.ForecastPruneRule`).
    metric: the monitored loss in each result (or TuneConfig's metric); mode must be "min".
    A result without a forecast never stops a trial. Attributes: `decisions` (trial id -> the
    latest PruneDecision), `stopped` (ids of the trials it stopped), `finished` (trial id -> the
    final loss of each trial that ran to its end), `family()` (their curves).
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 top_k: int = 1, metric: Optional[str] = None, mode: Optional[str] = None):
        super().__init__()
        self.rule = ForecastPruneRule(threshold, warmup_fraction, top_k)
        self._metric = metric
        self._check_mode(mode)
        self.decisions: Dict[str, PruneDecision] = {}
        self.stopped: set = set()
        self.finished: Dict[str, float] = {}
        self._curves: Dict[str, list] = {}
        self._planned_end: Dict[str, int] = {}

    @staticmethod
    def _check_mode(mode: Optional[str]) -> None:
        if mode not in (None, "min"):
            raise ValueError(f"ForecastScheduler judges a forecast loss: mode must be 'min', got {mode!r}")

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], **spec) -> bool:
        self._check_mode(mode)
        return super().set_search_properties(metric, mode, **spec)

    def on_trial_result(self, tune_controller, trial, result: Dict) -> str:
        loss, step = result.get(self._metric), result.get(STEP)
        if loss is None or step is None:
            return TrialScheduler.CONTINUE
        self._curves.setdefault(trial.trial_id, []).append((int(step), float(loss)))
        planned_end = result.get(tags.FINAL_STEP)
        if planned_end is None or not math.isfinite(planned_end) or planned_end <= 0:
            return TrialScheduler.CONTINUE
        self._planned_end[trial.trial_id] = int(planned_end)
        nan = math.nan
        decision = self.rule.decide(int(step), int(planned_end), result.get(tags.FINAL_LOSS, nan),
                                    result.get(tags.FINAL_LOSS_LOW, nan), result.get(tags.FINAL_LOSS_HIGH, nan),
                                    result.get(tags.FORECAST_CONFIDENCE, nan), self.finished.values())
        self.decisions[trial.trial_id] = decision
        if decision.prune:
            self.stopped.add(trial.trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller, trial, result: Dict) -> None:
        if trial.trial_id in self.stopped or not result or result.get(self._metric) is None:
            return
        self.finished[trial.trial_id] = float(result[self._metric])

    def family(self) -> List[TrialCurve]:
        """The curves of the trials that ran to their end (what family mode will learn from)."""
        return [TrialCurve(trial_id, [s for s, _ in self._curves[trial_id]], [v for _, v in self._curves[trial_id]],
                           self._planned_end[trial_id])
                for trial_id in self.finished if trial_id in self._planned_end]

    def debug_string(self) -> str:
        return f"Using ForecastScheduler: {len(self.stopped)} trial(s) stopped, {len(self.finished)} finished."
