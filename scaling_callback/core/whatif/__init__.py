"""What if the run took another schedule (numpy only): forecasts under schedules the run has not
taken, and the cool-down planner built on them.

  schedules.py    alternatives built from the planned schedule: a cool-down at any step, length,
                  shape and final rate (`with_cooldown`), a longer or shorter run (`resized_run`),
                  the plan's own cool-down (`planned_cooldown`), and the check that an
                  alternative's past is the run's (`past_difference`)
  alternative.py  `forecast_under` (the public forecast() under an alternative, its past checked)
                  and `cool_down_now` (the live what-if: a cool-down started at the latest validation)
  live.py         `live_whatif`: cool_down_now as the tags the tracker logs and one line of text
  planner.py      `plan_cooldown` (the earliest start worth taking, each start forecast to its own
                  end) and `compare_cooldowns` (shapes and lengths for the remaining budget)

docs/whatif.md explains them and how accurate they are on real cool-down branches
(benchmarks/whatif_accuracy.py).
"""
from __future__ import annotations

from .alternative import NEAR_PEAK, ScheduleMismatch, WhatIf, cool_down_now, forecast_under
from .live import live_whatif
from .planner import (CooldownComparison, CooldownOption, CooldownPlan, compare_cooldowns, cooldown_options,
                      plan_cooldown)
from .schedules import (SHAPES, Cooldown, cooldown_multiplier, cooldown_steps, past_difference, planned_cooldown,
                        rate_at, resized_run, schedule_knots, with_cooldown, without_cooldown)

__all__ = ["Cooldown", "SHAPES", "with_cooldown", "resized_run", "past_difference", "planned_cooldown",
           "cooldown_steps", "cooldown_multiplier", "schedule_knots", "rate_at", "without_cooldown", "ScheduleMismatch", "WhatIf",
           "forecast_under", "cool_down_now", "live_whatif", "NEAR_PEAK", "CooldownOption", "CooldownPlan", "plan_cooldown",
           "CooldownComparison", "compare_cooldowns", "cooldown_options"]
