"""What a trial carries for a `ForecastPruner`, as Optuna user attributes (JSON values, so that
any storage keeps them), and the trial's curve read back (no optuna import: any object with
`number`, `intermediate_values` and `user_attrs`, as `optuna.trial.FrozenTrial` has).

A pruner sees only a trial's reports and attributes: the validation losses are the reports
(`trial.report(loss, step)`), the planned end and the learning-rate knots are attributes set
once, and a trial pruned on its forecast keeps that forecast with its interval.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Tuple

import numpy as np

from ..core.trial_curve import TrialCurve

PLANNED_END = "scaling_callback.planned_end"  # the step the trial is planned to end at
LR_STEPS = "scaling_callback.lr_steps"  # the planned learning rate's knot steps
LR_RATES = "scaling_callback.lr_rates"  # and its rate at each knot
FORECAST = "scaling_callback.forecast"  # the forecast a pruned trial was judged on


def plan_attrs(planned_end: int, lr: Optional[Tuple[np.ndarray, np.ndarray]]) -> dict:
    """The attributes of a trial's plan: its planned end and (when known) its schedule's knots."""
    attrs = {PLANNED_END: int(planned_end)}
    if lr is not None:
        attrs[LR_STEPS] = [int(s) for s in np.asarray(lr[0]).tolist()]
        attrs[LR_RATES] = [float(r) for r in np.asarray(lr[1]).tolist()]
    return attrs


def forecast_attr(forecast, decision) -> dict:
    """The forecast a trial was pruned on, with its interval and the decision's numbers."""
    return {"loss": forecast.loss, "low": forecast.low, "high": forecast.high, "confidence": forecast.confidence,
            "target_step": forecast.target_step, "step": decision.step, "probability": decision.probability,
            "reference": decision.reference}


def planned_end_of(attrs: Mapping[str, object]) -> Optional[int]:
    end = attrs.get(PLANNED_END)
    return None if end is None else int(end)


def trial_curve(trial, planned_end: Optional[int] = None) -> TrialCurve:
    """The reported curve of `trial` with its plan (`planned_end` when it carries none). Points
    at or past the planned end are the trial's end (or, for a pruned trial, its forecast value)."""
    attrs = trial.user_attrs
    end = planned_end_of(attrs) or planned_end
    if end is None:
        raise ValueError(f"trial {trial.number} has no planned end: report through TrialReporter (or a "
                         f"scaling-callback Optuna callback), set_user_attr({PLANNED_END!r}, steps), or pass "
                         "ForecastPruner(planned_end=...)")
    points = sorted((int(s), float(v)) for s, v in trial.intermediate_values.items() if math.isfinite(v))
    steps = [s for s, _ in points]
    losses = [v for _, v in points]
    lr = (attrs[LR_STEPS], attrs[LR_RATES]) if LR_STEPS in attrs and LR_RATES in attrs else None
    return TrialCurve(str(trial.number), steps, losses, end, lr)
