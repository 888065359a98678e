"""Forecasts under a schedule the run has not taken (numpy only): `forecast_under` (any
alternative whose past is the run's) and `cool_down_now` (a cool-down started at the latest
validation, with the planned recipe).

Both call the public `forecast()` with the alternative as its `lr=`: the law reads the past
from the curve and the future from the schedule (Luo et al. 2025's multi-power law gives a loss
for any schedule), so a schedule whose past differs from what the run trained on would be a
forecast of another run, and is refused (`ScheduleMismatch`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..forecast import Forecast, forecast
from .schedules import (Cooldown, past_difference, planned_cooldown, rate_at, schedule_knots, with_cooldown,
                        without_cooldown)

__all__ = ["ScheduleMismatch", "WhatIf", "forecast_under", "cool_down_now", "NEAR_PEAK"]

# the rate is still "at its peak" (a cool-down can start now) while at least this share of the
# schedule's peak: below it the planned decay (or a cosine) is already cooling the run down
NEAR_PEAK = 0.9


class ScheduleMismatch(ValueError):
    """An alternative schedule whose past is not the run's (`schedules.past_difference` says where)."""


@dataclass(frozen=True)
class WhatIf:
    """The forecast at the end of an alternative cool-down: it starts at `start` and ends the run
    at `end` (the forecast's target), with `recipe`; `forecast` is the `Forecast` there."""

    start: int
    end: int
    recipe: Cooldown
    forecast: Forecast

    @property
    def ok(self) -> bool:
        return self.forecast.ok

    @property
    def loss(self) -> float:
        return self.forecast.loss

    @property
    def low(self) -> float:
        return self.forecast.low

    @property
    def high(self) -> float:
        return self.forecast.high


def forecast_under(steps, losses, alternative, *, target_step: int, run_lr=None, upto: Optional[float] = None,
                   confidence: float = 0.8, priors=None, family=None) -> Forecast:
    """`forecast(steps, losses, target_step=..., lr=alternative, family=family)` once
    `alternative`'s past is checked against the run's schedule `run_lr` (None: the run had a
    constant rate) up to `upto` (default: the last step with a loss): ScheduleMismatch, saying
    where they differ, when the alternative's rates before it are not the run's times one scale."""
    if upto is None:
        s = np.asarray(steps, float)
        good = np.isfinite(s) & np.isfinite(np.asarray(losses, float))
        if not np.any(good):
            return forecast(steps, losses, target_step=target_step, lr=alternative, confidence=confidence,
                            priors=priors, family=family)
        upto = float(s[good].max())
    reason = past_difference(run_lr, alternative, upto)
    if reason is not None:
        raise ScheduleMismatch(reason)
    return forecast(steps, losses, target_step=target_step, lr=alternative, confidence=confidence, priors=priors,
                    family=family)


def cool_down_now(steps, losses, *, planned_lr, planned_end: int, now: Optional[int] = None,
                  recipe: Optional[Cooldown] = None, confidence: float = 0.8, priors=None) -> Optional[WhatIf]:
    """The forecast at the end of a cool-down started at step `now` (default: the last step with a
    loss) with `recipe` (default: the planned schedule's own final cool-down, or
    `schedules.DEFAULT_FRACTION` of the run in `schedules.DEFAULT_SHAPE` when it has none or
    its decay would not fit before the planned end, as a cosine's: `planned_cooldown`); None when the planned rate at `now` is below NEAR_PEAK of its peak (the
    run is already cooling down, or still warming up) or the cool-down would end after the
    planned end."""
    s = np.asarray(steps, float)
    if now is None:
        good = np.isfinite(s) & np.isfinite(np.asarray(losses, float))
        if not np.any(good):
            return None
        now = int(s[good].max())
    now = int(now)
    _, kv = schedule_knots(planned_lr)
    if float(rate_at(planned_lr, now)) < NEAR_PEAK * float(kv.max()):
        return None
    if recipe is None:
        recipe = planned_cooldown(planned_lr, planned_end)[1]
        if now + recipe.steps_from(now) > planned_end:  # the plan's decay spans the run (a cosine): the default
            recipe = Cooldown()
    end = now + recipe.steps_from(now)
    if end > planned_end:
        return None
    alternative = with_cooldown(without_cooldown(planned_lr, planned_end), now, recipe.steps_from(now), shape=recipe.shape,
                                final_fraction=recipe.final_fraction)
    fc = forecast(steps, losses, target_step=end, lr=alternative, confidence=confidence, priors=priors)
    return WhatIf(now, end, recipe, fc)
