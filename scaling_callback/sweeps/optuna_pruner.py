"""`ForecastPruner`: an Optuna pruner that prunes a trial when the forecast of its own final loss,
at its own planned end under its own learning-rate schedule, is unlikely to beat the best
finished trial (the rule: core/pruning.py)."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Tuple

import numpy as np
import optuna

from ..core.checks import whole_number
from ..core.forecast import Forecast, FamilyRun, forecast, learn_family
from ..core.forecast.family import reached_planned_end
from ..core.pruning import DEFAULT_THRESHOLD, DEFAULT_WARMUP_FRACTION, ForecastPruneRule, PruneDecision
from ..core.trial_curve import TrialCurve
from .trial_attrs import trial_curve

FORECAST_CACHE = 256  # forecasts kept by default: a few per running trial (a trial may ask again at one step)


class ForecastPruner(optuna.pruners.BasePruner):
    """Prune a trial when P(its final loss < the best finished trial's) < `threshold`.

    At each `trial.should_prune()` the trial's reported validation losses are forecast at its
    planned end under its planned learning rate (the user attributes a `TrialReporter`, or the
    Lightning / HF callbacks, set: `trial_attrs.PLANNED_END`, `LR_STEPS`, `LR_RATES`), and the
    forecast's distribution (its median and `confidence` interval) gives the probability that it
    ends below the final value of the best COMPLETE trial (the `top_k`-th best with top_k > 1).

        study = optuna.create_study(pruner=ForecastPruner())

    Args:
        threshold: prune below this probability.
        warmup_fraction: never prune before this fraction of the trial's planned end.
        top_k: compare with the k-th best finished trial (a search that keeps its top k).
        confidence: the forecast interval's probability (the distribution is read from it).
        planned_end: the planned end of trials that carry none in their attributes.
        cache_size: forecasts kept, keyed by the curve, its plan and the confidence (the oldest
            dropped first).
        family: forecast each trial with the study's finished trials (those that reached their
            planned end) as its family (docs/forecast.md, "Family mode"): their own forecasts,
            replayed, shift and calibrate the trial's. Off by default: the trials' forecasts then
            depend on which trials finished first, so a forecast is no longer shared between
            orders of the same curves, and the replay benchmark's table was measured without it
            (`benchmarks/pruning_replay.py --family` measures it).

    The study must minimise (a loss). A pruned trial's forecast is kept: `decision(number)` gives
    the latest `PruneDecision` and `Forecast` of a trial; the reporters store it on the trial
    and report it as the trial's value (`TrialReporter`). Each forecast is cached per trial and
    step, so asking twice at one step costs the decision only.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD, warmup_fraction: float = DEFAULT_WARMUP_FRACTION,
                 top_k: int = 1, confidence: float = 0.8, planned_end: Optional[int] = None,
                 cache_size: int = FORECAST_CACHE, family: bool = False):
        self.rule = ForecastPruneRule(threshold, warmup_fraction, top_k)
        if not isinstance(family, bool):
            raise TypeError(f"family must be True or False, got {family!r}")
        self.use_family = family
        self._replays: dict = {}  # the family's replays, made once per finished trial and fraction
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        self.confidence = float(confidence)
        self.planned_end = whole_number(planned_end, "planned_end", minimum=1, none_ok=True)
        self.cache_size = whole_number(cache_size, "cache_size", minimum=1)
        self.forecasts_made = 0  # forecasts computed (the others came from the cache)
        self._forecasts: Dict[tuple, Forecast] = {}
        self._family: Dict[Tuple[str, int], TrialCurve] = {}
        self._decisions: Dict[Tuple[str, int], Tuple[PruneDecision, Optional[Forecast]]] = {}

    def prune(self, study: "optuna.study.Study", trial: "optuna.trial.FrozenTrial") -> bool:
        if study.direction != optuna.study.StudyDirection.MINIMIZE:
            raise ValueError(f"{type(self).__name__} prunes on a forecast loss: the study must minimise, "
                             f"not {study.direction.name.lower()}")
        curve = trial_curve(trial, self.planned_end)
        if curve.last_step is None:
            return False
        finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        values = [t.value for t in finished]
        step, end = curve.last_step, curve.planned_end
        forecast_made = None
        if self.rule.judges(step, end, values):
            forecast_made = self._forecast(curve, self.family(study, finished))
            f = forecast_made
            decision = self.rule.decide(step, end, f.loss, f.low, f.high, f.confidence, values)
        else:
            decision = self.rule.decide(step, end, math.nan, math.nan, math.nan, self.confidence, values)
        self._decisions[(study.study_name, trial.number)] = (decision, forecast_made)
        return decision.prune

    def decision(self, study_name: str, number: int) -> Optional[Tuple[PruneDecision, Optional[Forecast]]]:
        """The latest (PruneDecision, Forecast or None) of trial `number` of the study, or None."""
        return self._decisions.get((study_name, number))

    def family(self, study, finished) -> List[TrialCurve]:
        """The curves of the study's finished trials (each read once, then kept), each ending at its
        planned end with the trial's value (a complete trial's final loss) when its last report is earlier."""
        curves = []
        for t in finished:
            key = (study.study_name, t.number)
            if key not in self._family:
                self._family[key] = with_final_value(trial_curve(t, self.planned_end), t.value)
            curves.append(self._family[key])
        return curves

    def _forecast(self, curve: TrialCurve, family: List[TrialCurve]) -> Forecast:
        members = [FamilyRun(c.run_id, tuple(c.steps), tuple(c.losses), c.planned_end, c.lr) for c in family
                   if self.use_family and c.last_step is not None and c.run_id != curve.run_id
                   and reached_planned_end(c.last_step, c.planned_end)]
        lr = () if curve.lr is None else (curve.lr[0].tobytes(), curve.lr[1].tobytes())
        key = (curve.steps.tobytes(), curve.losses.tobytes(), curve.planned_end, lr, tuple(m.run_id for m in members))
        if key not in self._forecasts:
            if len(self._forecasts) >= self.cache_size:
                self._forecasts.pop(next(iter(self._forecasts)))
            self.forecasts_made += 1
            self._forecasts[key] = forecast(curve.steps, curve.losses, target_step=curve.planned_end, lr=curve.lr,
                                            confidence=self.confidence,
                                            family=learn_family(members, cache=self._replays) if members else None)
        return self._forecasts[key]


def with_final_value(curve: TrialCurve, value) -> TrialCurve:
    """`curve` with (planned end, value) appended when its reports stop before its planned end and
    the value is a finite number: the final loss a complete trial returned."""
    if (curve.last_step is None or curve.last_step >= curve.planned_end or value is None
            or not math.isfinite(value)):
        return curve
    return TrialCurve(curve.run_id, np.append(curve.steps, curve.planned_end), np.append(curve.losses, value),
                      curve.planned_end, curve.lr)
