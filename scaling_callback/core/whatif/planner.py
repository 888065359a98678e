"""The cool-down planner (numpy only): when to start the final cool-down, computed by forecasting
each candidate cool-down to its own end (`plan_cooldown`), and which cool-down shape and length
the law prefers for the remaining budget (`compare_cooldowns`).

It replaces an assumption: `advice.stop.recommended_stop` reads the gain of an earlier decay off
the planned forecast's stable phase, as if the drop a cool-down brings did not depend on when it
starts. Here each start is its own forecast under its own schedule (`alternative.forecast_under`),
so a drop that grows with the steps already trained, or a small model that loses loss in a
cool-down, shows in the numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence, Tuple

import numpy as np

from ..formatting import format_number
from ..forecast import forecast
from .alternative import forecast_under
from .schedules import SHAPES, Cooldown, planned_cooldown, with_cooldown, without_cooldown

__all__ = ["CooldownOption", "CooldownPlan", "plan_cooldown", "CooldownComparison", "compare_cooldowns",
           "cooldown_options"]

CANDIDATE_STARTS = 9  # starts tried between now and the planned start (both included)
DEFAULT_PROBABILITY = 0.8  # with target_loss=: the probability the loss must reach it with
COMPARED_LENGTHS = (0.1, 0.2, 0.3)  # cool-down fractions compare_cooldowns weighs by default (Hägele et al. 2024 span these)


@dataclass(frozen=True)
class CooldownOption:
    """One cool-down: it starts at `start` and ends the run at `end`, with the forecast there
    (`loss`, `low`, `high`: the `confidence` interval; NaN where no forecast could be made);
    `reach` is the loss reached with the planner's probability (its quantile: NaN without
    target_loss=); `steps_saved` the steps it saves against the planned end (negative: longer),
    `compute_saved` the same as a share of the planned run's compute (C ∝ steps at a fixed batch)."""

    start: int
    end: int
    recipe: Cooldown
    loss: float
    low: float
    high: float
    reach: float
    steps_saved: int
    compute_saved: float


@dataclass(frozen=True)
class CooldownPlan:
    """Where to start the final cool-down: the `options` tried (earliest first), the `reference`
    (the planned schedule, or the planned recipe ending at the planned end when the plan has no
    cool-down), the `recommended` option (None: none qualifies, keep the plan), and why, in words."""

    topic: ClassVar[str] = "Cool-down planner"
    options: Tuple[CooldownOption, ...]
    reference: CooldownOption
    recommended: Optional[CooldownOption]
    min_delta: float
    target_loss: Optional[float]
    probability: float
    warning: bool  # an earlier start saves steps
    message: str


def _option(steps, losses, run_lr, upto, start, recipe, planned_end, confidence, probability, target_loss, priors,
            schedule=None):
    """A CooldownOption: the forecast at the end of `recipe` started at `start` (or of `schedule`)."""
    length = recipe.steps_from(start)
    end = start + length
    if schedule is None:
        schedule = with_cooldown(without_cooldown(run_lr, planned_end), start, length, shape=recipe.shape, final_fraction=recipe.final_fraction)
    fc = forecast_under(steps, losses, schedule, target_step=end, run_lr=run_lr, upto=upto, confidence=confidence,
                        priors=priors)
    reach = np.nan
    if target_loss is not None:  # the p-quantile is the upper end of the central (2p − 1) interval
        reach = forecast(steps, losses, target_step=end, lr=schedule, confidence=2 * probability - 1,
                         priors=priors).high
    saved = int(planned_end) - end
    return CooldownOption(int(start), int(end), recipe, fc.loss, fc.low, fc.high, float(reach), saved,
                          saved / float(planned_end))


def cooldown_options(steps, losses, starts: Sequence[int], *, planned_lr, planned_end: int,
                     recipe: Optional[Cooldown] = None, confidence: float = 0.8, priors=None):
    """A CooldownOption for each of `starts` (the planned recipe by default: `planned_cooldown`):
    what `scaling-callback whatif` tabulates."""
    recipe = planned_cooldown(planned_lr, planned_end)[1] if recipe is None else recipe
    upto = float(np.max(np.asarray(steps, float)))
    return tuple(_option(steps, losses, planned_lr, upto, int(s), recipe, planned_end, confidence,
                         DEFAULT_PROBABILITY, None, priors) for s in starts)


def plan_cooldown(steps, losses, *, planned_lr, planned_end: int, now: Optional[int] = None,
                  recipe: Optional[Cooldown] = None, min_delta: float = 0.01, target_loss: Optional[float] = None,
                  probability: float = DEFAULT_PROBABILITY, candidates: int = CANDIDATE_STARTS,
                  starts: Optional[Sequence[int]] = None, confidence: float = 0.8, priors=None) -> CooldownPlan:
    """The earliest start of the final cool-down worth taking, over CANDIDATE_STARTS starts from
    `now` (default: the last step with a loss) to the latest start of `recipe` (default: the
    plan's own cool-down, `planned_cooldown`) that ends by the planned end, each forecast to its
    own end: the earliest whose forecast is within `min_delta` of the reference's (the planned
    run: its own schedule, or the recipe ending at the planned end when it has no cool-down), or,
    given `target_loss`, the earliest that reaches it with `probability` (its `probability`
    quantile at or below it). The steps and compute each start saves are in its option.
    `starts`: the candidate starts to try instead (those before `now` or after that latest start
    are left out)."""
    if not 0.5 < probability < 1:
        raise ValueError(f"probability must be in (0.5, 1), got {probability!r}")
    if not min_delta > 0:
        raise ValueError(f"min_delta must be a positive loss difference, got {min_delta!r}")
    s = np.asarray(steps, float)
    upto = float(np.max(s)) if now is None else float(now)
    planned_start, planned_recipe = planned_cooldown(planned_lr, planned_end)
    recipe = planned_recipe if recipe is None else recipe
    last = recipe.start_for_end(int(planned_end))  # the latest start of this recipe that ends by the planned end
    args = (steps, losses, planned_lr, upto)
    extra = (confidence, probability, target_loss, priors)
    # the planned run: its own schedule when it ends in a cool-down, else the recipe ending at its end
    schedule = None if planned_start is None else planned_lr
    reference = _option(*args, last if planned_start is None else planned_start,
                        planned_recipe if planned_start is not None else recipe, planned_end, *extra, schedule=schedule)
    first = int(np.ceil(upto))
    if starts is None:
        starts = np.rint(np.linspace(first, max(first, last), max(int(candidates), 1)))
    starts = np.unique(np.asarray(starts, float).astype(int))
    options = tuple(_option(*args, int(st), recipe, planned_end, *extra) for st in starts if first <= st <= last)
    recommended = _earliest(options, reference, min_delta, target_loss)
    warning, message = _plan_message(recommended, reference, min_delta, target_loss, probability)
    return CooldownPlan(options, reference, recommended, float(min_delta), target_loss, float(probability),
                        warning, message)


def _earliest(options, reference, min_delta, target_loss) -> Optional[CooldownOption]:
    for option in options:
        if target_loss is not None and option.reach <= target_loss:
            return option
        if target_loss is None and option.loss <= reference.loss + min_delta:
            return option
    return None


def _plan_message(recommended, reference, min_delta, target_loss, probability):
    """(warning, message) of the plan in one or two sentences."""
    ref = f"the planned run's {format_number(reference.loss)} at step {reference.end}"
    if recommended is None:
        goal = (f"reaches {format_number(target_loss)} with probability {probability:g}" if target_loss is not None
                else f"comes within {format_number(min_delta)} of {ref}")
        return False, f"Keep the plan: no earlier cool-down start tried {goal}."
    goal = (f"reaching {format_number(target_loss)} with probability {probability:g}" if target_loss is not None
            else f"within {format_number(min_delta)} of {ref}")
    saved = recommended.steps_saved
    head = (f"Start the cool-down at step {recommended.start} and end at {recommended.end}: forecast "
            f"{format_number(recommended.loss)} [{format_number(recommended.low)}, {format_number(recommended.high)}], "
            f"{goal}")
    if saved > 0:
        return True, head + f", saving {saved} steps ({recommended.compute_saved:.0%} of the planned compute)."
    return False, head + "."


@dataclass(frozen=True)
class CooldownComparison:
    """Cool-down recipes for the remaining budget (each ending at the planned end): the `options`,
    the `preferred` one (lowest forecast), `margin` (the runner-up's forecast minus the
    preferred one's) and `clear`: the preferred one's interval lies below the runner-up's forecast;
    else there is no clear difference."""

    options: Tuple[CooldownOption, ...]
    preferred: CooldownOption
    margin: float
    clear: bool
    message: str


def compare_cooldowns(steps, losses, *, planned_lr, planned_end: int, shapes: Sequence[str] = SHAPES,
                      lengths: Sequence[float] = COMPARED_LENGTHS, final_fraction: float = 0.0,
                      confidence: float = 0.8, priors=None) -> CooldownComparison:
    """Forecast the planned end under every cool-down of `shapes` × `lengths` (fractions of the run,
    or steps) that ends there, from the same past, and say which the law prefers and by how much.
    Starts before the last step with a loss are left out (the past cannot change)."""
    upto = float(np.max(np.asarray(steps, float)))
    options = []
    for length in lengths:
        for shape in shapes:
            start = Cooldown(length, shape, final_fraction).start_for_end(int(planned_end))
            if start < upto:
                continue
            recipe = Cooldown(int(planned_end) - start, shape, final_fraction)
            options.append(_option(steps, losses, planned_lr, upto, start, recipe, planned_end, confidence,
                                   DEFAULT_PROBABILITY, None, priors))
    good = [o for o in options if np.isfinite(o.loss)]
    if not good:
        raise ValueError("no cool-down of those lengths fits after the last step seen with a forecast")
    ranked = sorted(good, key=lambda o: o.loss)
    best = ranked[0]
    margin = ranked[1].loss - best.loss if len(ranked) > 1 else float("nan")
    clear = len(ranked) > 1 and best.high < ranked[1].loss
    name = f"{best.recipe.shape} over the last {best.end - best.start} steps"
    if len(ranked) == 1:
        message = f"Only one cool-down fits: {name}, forecast {format_number(best.loss)}."
    elif clear:
        message = (f"The law prefers a {name}: {format_number(best.loss)} [{format_number(best.low)}, "
                   f"{format_number(best.high)}], {format_number(margin)} below the next best.")
    else:
        message = (f"No clear difference: the best, a {name}, forecasts {format_number(best.loss)}, "
                   f"{format_number(margin)} below the next best, inside its interval.")
    return CooldownComparison(tuple(options), best, float(margin), bool(clear), message)
