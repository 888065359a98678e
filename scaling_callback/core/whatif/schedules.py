"""Alternative learning-rate schedules built from a planned one (numpy only): a cool-down started
at any step, of any length, shape and final rate; a longer or shorter run under the same recipe;
and the test that an alternative's past is the run's own (a forecast may only change the future).

A schedule is what `forecast(lr=...)` takes: the rate at every step 0..T (an array) or knots
(knot_steps, knot_rates), linear between knots and flat beyond them. Every builder returns knots.
The shapes are those of Hägele et al. 2024 ("Scaling laws and compute-optimal training beyond
fixed training durations", sec. 3): linear, (1 − sqrt) and cosine, each from the rate at the
start of the cool-down down to a final fraction of the peak.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np

from ..advice.stop import final_decay

__all__ = ["Cooldown", "SHAPES", "with_cooldown", "resized_run", "past_difference", "cooldown_steps",
           "schedule_knots", "rate_at", "cooldown_multiplier", "planned_cooldown", "without_cooldown"]

SHAPES = ("linear", "sqrt", "cosine")
# a cool-down of 20% of the run in (1 − sqrt) shape to zero: the one Hägele et al. 2024 (Fig. 4, 5)
# found to match or beat a cosine schedule; the default where the plan has no cool-down of its own
DEFAULT_FRACTION = 0.2
DEFAULT_SHAPE = "sqrt"
COOLDOWN_KNOTS = 65  # knots a curved cool-down is drawn with (linear between them: within 0.1% of the peak)
# an alternative's past matches the run's when every rate before the cut is within this share of the
# peak of the run's rate times one scale: a rate read back from an optimizer wiggles by less
SAME_PAST_TOLERANCE = 0.01
PAST_CHECK_POINTS = 512  # steps of the past compared, besides every knot of either schedule


@dataclass(frozen=True)
class Cooldown:
    """A cool-down's recipe: `length` (steps, or a fraction of the run in (0, 1): a cool-down
    started at s then lasts s·f/(1 − f) steps, f of the run it ends), `shape` ("linear", "sqrt"
    for 1 − sqrt, "cosine") and `final_fraction` (the rate it ends at, per unit of the peak)."""

    length: Union[int, float] = DEFAULT_FRACTION
    shape: str = DEFAULT_SHAPE
    final_fraction: float = 0.0

    def __post_init__(self):
        if self.shape not in SHAPES:
            raise ValueError(f"unknown cool-down shape {self.shape!r}; use one of {SHAPES}")
        if not (isinstance(self.length, (int, float, np.integer, np.floating)) and np.isfinite(self.length)
                and self.length > 0):
            raise ValueError(f"cool-down length must be a positive number of steps or a fraction in (0, 1), "
                             f"got {self.length!r}")
        if float(self.length) != int(self.length) and not 0 < self.length < 1:
            raise ValueError(f"a cool-down length that is not a whole number of steps is a fraction of the run "
                             f"in (0, 1), got {self.length!r}")
        if not 0.0 <= float(self.final_fraction) < 1.0:
            raise ValueError(f"final_fraction must be in [0, 1), got {self.final_fraction!r}")

    def steps_from(self, start: int) -> int:
        """Its length in steps when it starts at step `start` (`cooldown_steps`)."""
        return cooldown_steps(self.length, start)

    def start_for_end(self, end: int) -> int:
        """The step it starts at to end the run at step `end`."""
        if 0 < self.length < 1:
            return int(round(end * (1.0 - self.length)))
        return int(end) - int(self.length)

    def describe(self) -> str:
        length = f"{self.length:g} of the run" if self.length < 1 else f"{int(self.length)} steps"
        end = "zero" if self.final_fraction == 0 else f"{self.final_fraction:g} of the peak"
        return f"{self.shape} cool-down over {length} to {end}"


def cooldown_steps(length, start: int) -> int:
    """Steps of a cool-down of `length` (steps, or a fraction f in (0, 1) of the run it ends)
    started at step `start`: the steps as given, or round(start·f/(1 − f)), at least 1."""
    if 0 < length < 1:
        return max(1, int(round(start * length / (1.0 - length))))
    return max(1, int(length))


def cooldown_multiplier(u, shape: str) -> np.ndarray:
    """The share of the cool-down's fall still ahead at progress u in [0, 1]: 1 at its start, 0 at
    its end (linear 1 − u, sqrt 1 − √u, cosine (1 + cos πu)/2)."""
    u = np.clip(np.asarray(u, float), 0.0, 1.0)
    if shape == "linear":
        return 1.0 - u
    if shape == "sqrt":
        return 1.0 - np.sqrt(u)
    if shape == "cosine":
        return 0.5 * (1.0 + np.cos(np.pi * u))
    raise ValueError(f"unknown cool-down shape {shape!r}; use one of {SHAPES}")


def schedule_knots(lr) -> Tuple[np.ndarray, np.ndarray]:
    """(steps, rates) knots, sorted, finite, of a schedule given as knots or as a rate per step;
    a constant (0, 1) for None. ValueError for a schedule with no finite positive rate."""
    if lr is None:
        return np.array([0.0]), np.array([1.0])
    if isinstance(lr, tuple) and len(lr) == 2:
        ks, kv = (np.asarray(v, float).ravel() for v in lr)
        if ks.shape != kv.shape:
            raise ValueError(f"{len(ks)} knot steps but {len(kv)} rates")
    else:
        kv = np.asarray(lr, float).ravel()
        ks = np.arange(len(kv), dtype=float)
    good = np.isfinite(ks) & np.isfinite(kv)
    ks, kv = ks[good], kv[good]
    if not np.any(kv > 0):
        raise ValueError("the learning-rate schedule has no finite positive rate")
    order = np.argsort(ks, kind="stable")
    return ks[order], np.maximum(kv[order], 0.0)


def rate_at(lr, steps) -> np.ndarray:
    """The schedule's rate at `steps` (linear between knots, flat beyond them)."""
    ks, kv = schedule_knots(lr)
    return np.interp(np.asarray(steps, float), ks, kv)


def with_cooldown(lr, start: int, length, *, shape: str = DEFAULT_SHAPE, final_fraction: float = 0.0):
    """The schedule `lr` up to step `start`, then a cool-down of `length` steps (or a fraction of
    the run it ends: `cooldown_steps`) of `shape` from the rate at `start` down to
    `final_fraction` of the schedule's peak, ending the run at start + length. Knots."""
    recipe = Cooldown(length, shape, final_fraction)
    start = int(start)
    if start < 0:
        raise ValueError(f"a cool-down starts at a step >= 0, got {start}")
    ks, kv = schedule_knots(lr)
    steps = recipe.steps_from(start)
    peak = float(kv.max())
    top = float(np.interp(start, ks, kv))
    bottom = min(recipe.final_fraction * peak, top)
    u = np.linspace(0.0, 1.0, 2 if shape == "linear" else COOLDOWN_KNOTS)
    before = ks < start
    fall = bottom + (top - bottom) * cooldown_multiplier(u, shape)
    return np.concatenate([ks[before], start + u * steps]), np.concatenate([kv[before], fall])


def resized_run(lr, planned_end: int, new_end: int):
    """The same recipe for a run ending at `new_end` instead of `planned_end`: the warm-up (up to
    the first step at the peak rate) kept as it is, every later knot moved in proportion
    (a WSD's cool-down stays the same share of the run, a cosine spans the new length). Knots."""
    ks, kv = schedule_knots(lr)
    planned_end, new_end = int(planned_end), int(new_end)
    warm = float(ks[int(np.argmax(kv))])
    if not warm < planned_end or not warm < new_end:
        raise ValueError(f"the run must end after its warm-up (step {warm:g}): planned end {planned_end}, "
                         f"new end {new_end}")
    ks = ks[ks <= planned_end] if np.any(ks >= planned_end) else ks
    kv = kv[: len(ks)]
    if ks[-1] < planned_end:
        ks, kv = np.append(ks, planned_end), np.append(kv, kv[-1])
    later = ks > warm
    moved = np.where(later, warm + (ks - warm) * (new_end - warm) / (planned_end - warm), ks)
    return moved, kv.copy()


def past_difference(run_lr, alternative, upto: float, tolerance: float = SAME_PAST_TOLERANCE) -> Optional[str]:
    """Why `alternative` cannot be a what-if of the run whose schedule is `run_lr` (None: a
    constant rate) seen up to step `upto`, or None when it can: its rates at steps <= upto must be
    the run's times one scale (a multiplier schedule and an absolute one are the same schedule),
    within `tolerance` of the run's peak there, from the run's first knot on."""
    try:
        rk, rv = schedule_knots(run_lr)
        ak, av = schedule_knots(alternative)
    except ValueError as exc:
        return f"unusable schedule: {exc}"
    upto = float(upto)
    grid = np.union1d(np.linspace(0.0, upto, PAST_CHECK_POINTS), np.concatenate([rk, ak]))
    grid = grid[(grid >= (rk[0] if run_lr is not None else 0.0)) & (grid <= upto)]  # before its first knot a run's rate is not known
    run, alt = np.interp(grid, rk, rv), np.interp(grid, ak, av)
    if not np.any(run > 0):
        return f"the run's learning rate is 0 at every step up to {upto:g}: nothing to compare"
    top = int(np.argmax(run))
    scale = alt[top] / run[top]
    off = np.abs(alt - scale * run) > tolerance * scale * run[top] if scale > 0 else np.ones(len(grid), bool)
    if not np.any(off):
        return None
    at = int(np.nonzero(off)[0][0])
    return (f"the alternative schedule differs from the run's before step {upto:g}, where the run has already "
            f"trained: at step {grid[at]:.0f} it gives {alt[at]:.4g}, the run's rate there is {run[at]:.4g} "
            f"(times the scale {scale:.4g} read at step {grid[top]:g}); a what-if may change only the steps after "
            f"{upto:g}")


def without_cooldown(lr, planned_end: int):
    """The planned schedule with its final cool-down (`planned_cooldown`) taken out: the rate it
    starts from held to the planned end (what a cool-down of another start, shape or length is
    built on). Knots; the schedule as it is when it has no final cool-down."""
    ks, kv = schedule_knots(lr)
    start, _ = planned_cooldown(lr, planned_end)
    if start is None:
        return ks, kv
    top = float(np.interp(start, ks, kv))
    keep = ks <= start
    return np.append(ks[keep], max(float(planned_end), float(start) + 1.0)), np.append(kv[keep], top)


def planned_cooldown(lr, planned_end: int) -> Tuple[Optional[int], Cooldown]:
    """(start, recipe) of the planned schedule's own final cool-down (its start, its length in
    steps, the shape of SHAPES closest to it, its final rate), or (None, the default recipe:
    DEFAULT_FRACTION of the run in DEFAULT_SHAPE to zero) when the plan has none."""
    ks, kv = schedule_knots(lr)
    decay = final_decay(ks, kv, int(planned_end)) if len(ks) > 1 else None
    if decay is None or decay.length < 1:
        return None, Cooldown()
    u = np.linspace(0.0, 1.0, 33)
    seen = np.interp(decay.start_step + u * decay.length, ks, kv)
    fall = max(decay.peak_lr - decay.final_lr, 1e-300)
    errors = [np.sum((seen - decay.final_lr - fall * cooldown_multiplier(u, s)) ** 2) for s in SHAPES]
    shape = SHAPES[int(np.argmin(errors))]
    return decay.start_step, Cooldown(int(decay.length), shape, float(decay.final_lr / decay.peak_lr))
