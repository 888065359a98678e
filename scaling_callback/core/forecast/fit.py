"""The fit forecast() makes of a clean history, and the choice of law: the rising law once the
validation loss has turned up (rising.py), else the grid posterior (grid.py) of the power law
under the exponent prior, or of the log-linear law when it foretold the run's own past much
better (the hindcast); docs/forecast.md, "The law and how the schedule enters"."""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import numpy as np

from ..status import Status
from .grid import grid_posterior
from .interval import hindcast_cutoff
from .law import GridPosterior
from .priors import ForecastPriors
from .rising import overfitting_from, rising_posterior

__all__ = ["fitted_posterior", "hindcasts", "overfitting_from"]

DIVERGENCE_FACTOR = 1.25  # the latest losses this many times the best so far: a diverging run, no law fits it
HINDCAST_MIN_POINTS = 3  # the fewest points a hindcast is fitted to (as the shared scorer's forecasts)
HINDCAST_LAST_POINTS = 3  # y_c, the loss the hindcast forecasts, is the median of the last this many losses
# The log-linear law forecasts only when its hindcast erred less than 1/LAW_CHOICE_RATIO of the power
# law's: chosen by benchmarks/forecast_accuracy.py (docs/forecast.md, "When the loss falls log-linearly")
LAW_CHOICE_RATIO = 2.0


def _diverging(y) -> Optional[str]:
    """A reason when the latest losses sit far above the best so far (a diverging run)."""
    best = np.min(y)
    recent = y[-2:] if len(y) >= 3 else y[-1:]
    if np.all(recent > DIVERGENCE_FACTOR * best) and np.argmin(y) < len(y) - len(recent):
        return (f"diverging run: latest loss {y[-1]:.4g} is {y[-1] / best - 1:.0%} above the best "
                f"{best:.4g}; a power law cannot describe it")
    return None


def _rising_fit(s, y, best, target, lr, priors, notes):
    """The rise since the best point (no hindcast: from before the turn it would be a falling
    law's, and misread), with the same rise on the step clock when a schedule is given (the
    interval's g_s: rising.RisingPosterior.raw); or (Status, reason)."""
    post = rising_posterior(s, y, best, target, lr, priors, notes)
    if isinstance(post, str):
        return Status.FIT_FAILED, post
    if lr is not None:
        steps_clock = rising_posterior(s, y, best, target, None, priors, [])
        if not isinstance(steps_clock, str):
            post = dataclasses.replace(post, step_clock=steps_clock)
    return post


def _median_at(law: GridPosterior, step) -> float:
    return float(law.median(np.array([step], float))[0])


def _chosen_law(s, target, laws, errors, span, notes) -> int:
    """0 (the power law) or 1 (the log-linear law): the log-linear law only when its hindcast, of
    at least HINDCAST_MIN_POINTS points it did not see, erred less than 1/LAW_CHOICE_RATIO of the
    power law's, and it forecasts a positive loss; the power law, which the priors were learnt
    for, when nothing tells."""
    unseen = span > 0 and np.sum(s > s[-1] * math.exp(-span)) >= HINDCAST_MIN_POINTS
    chosen = int(laws[1] is not None and unseen and LAW_CHOICE_RATIO * errors[1] < errors[0])
    if chosen and not _median_at(laws[1], target) > 0:  # carried past zero: no loss is negative
        chosen = 0
    if chosen == 1:
        notes.append(f"log-linear law: its hindcast of step {int(s[-1])} erred {errors[1]:.2%}, the power "
                     f"law's {errors[0]:.2%}; the loss still falls by a steady amount per doubling of the "
                     f"learning-rate area, with no asymptote in sight")
    return chosen


def _hindcast_for_interval(s, target, laws, g_h, span):
    """(g_h, span) for the interval: the power law's hindcast whichever law forecasts (how far this
    run is from those the interval was learnt on); with no hindcast, the two laws' disagreement at
    the target stands in for its error carried there (three points cannot tell them apart);
    docs/forecast.md, "The interval" and "Runs validated rarely"."""
    if span == 0 and laws[1] is not None and target > s[-1]:
        m_pow, m_lin = (_median_at(law, target) for law in laws)
        disagreement = abs(m_lin - m_pow) / m_pow
        if m_pow > 0 and np.isfinite(disagreement):
            g_h, span = disagreement, math.log(target / s[-1])
    return g_h, span


def fitted_posterior(s, y, target, lr, priors: "ForecastPriors", notes: list, hindcast: bool = True):
    """The fit forecast() makes of a clean history (s, y): a RisingPosterior when the loss has
    turned up (with the same rise on the step clock when a schedule is given), else the grid
    posterior of the power law under the exponent prior or of the log-linear law, the latter
    only when it foretold the run's own past much better (`hindcasts`); or (Status, reason)
    when there is none. With `hindcast`, the grid posterior carries the power law's error on
    the run's own past (`hindcast_error`) for the interval; without, it is the power law's,
    with none.
    tools/learn_priors.py calibrates the interval on exactly these fits."""
    best = overfitting_from(s, y, lr, target, notes)
    if best is not None:
        return _rising_fit(s, y, best, target, lr, priors, notes)
    diverging = _diverging(y)
    if diverging:
        return Status.DIVERGING, diverging
    grid = grid_posterior(s, y, target, lr, priors, notes)
    if isinstance(grid, str):
        return Status.FIT_FAILED, grid
    laws = (grid.with_exponent_prior(priors.log_alpha), grid.log_linear_law())
    if laws[0] is None:
        return Status.FIT_FAILED, "no exponent on the grid gives a finite fit"
    if not hindcast:
        return laws[0]
    errors, span, g_h = hindcasts(s, y, target, lr, priors)
    chosen = _chosen_law(s, target, laws, errors, span, notes)
    g_h, span = _hindcast_for_interval(s, target, laws, g_h, span)
    return dataclasses.replace(laws[chosen], hindcast_error=(g_h, span))  # g_h is finite (`hindcasts`)


def _hindcast_start(s, y, target, lr):
    """(t_h, early): the hindcast's cutoff and the points up to it, or None when no hindcast can be
    made. A run validated rarely gets a hindcast of shorter reach (up to its HINDCAST_MIN_POINTS-th
    point), not none: docs/forecast.md, "Runs validated rarely"."""
    t_c = int(s[-1])
    t_h = hindcast_cutoff(t_c, target)
    early = s <= t_h
    if np.sum(early) < HINDCAST_MIN_POINTS < len(s):
        t_h = float(s[HINDCAST_MIN_POINTS - 1])
        early = s <= t_h
    if np.sum(early) < HINDCAST_MIN_POINTS or t_h <= 0 or _diverging(y[early]) \
            or overfitting_from(s[early], y[early], lr, t_c, []) is not None:
        return None
    return t_h, early


def hindcasts(s, y, target, lr, priors: "ForecastPriors"):
    """((h_power, h_log_linear), span, g_h): how wrong each law's fit was about this run's own past.
    The history up to t_h = `hindcast_cutoff`(t_c, T) (or, when fewer than HINDCAST_MIN_POINTS
    precede it, up to the HINDCAST_MIN_POINTS-th point) forecasts the last observed step t_c;
    h = |y_c/m_h − 1|, y_c the median of the last three losses, over span = ln(t_c/t_h) of log
    steps. A law that misdescribes this curve (e.g. a loss falling log-linearly for thousands of
    steps, which a saturating law bends too early) shows it here before it shows at the target;
    the law choice compares the two h.
    g_h, the interval's (carried to step t as g_h·ln(t/t_c)/span), is the larger of the power
    law's h and its error at each of the last three points' own steps (their median): a run
    validated rarely has its last three far apart, and their median loss then stands for an
    earlier step than t_c, which hides a law bent too early; h alone carries what a loss still
    falling fast at t_c owes the interval (either alone covered less: docs/forecast.md, "The
    interval" and "Runs validated rarely").
    ((0, inf), 0, 0) when no hindcast can be made (no more than HINDCAST_MIN_POINTS points, an
    early history that turned up or diverges, or no finite fit); h inf for a law without a finite
    hindcast."""
    none = (0.0, math.inf), 0.0, 0.0
    start = _hindcast_start(s, y, target, lr)
    if start is None:
        return none
    t_h, early = start
    t_c = int(s[-1])
    grid = grid_posterior(s[early], y[early], t_c, lr, priors, [], weak_drop_prior=False)
    if isinstance(grid, str):
        return none
    y_c = float(np.median(y[-HINDCAST_LAST_POINTS:]))
    power = grid.with_exponent_prior(priors.log_alpha)
    errors = []
    for law in (power, grid.log_linear_law()):
        m_h = _median_at(law, t_c) if law is not None else math.nan
        errors.append(abs(y_c / m_h - 1.0) if np.isfinite(m_h) and m_h > 0 else math.inf)
    if not np.isfinite(errors[0]):
        return none
    last = np.nonzero(~early)[0][-HINDCAST_LAST_POINTS:]  # the last three points (at most), each at its own step
    m_last = power.median(s[last].astype(float))
    per_point = abs(float(np.median(y[last] / m_last - 1.0))) if len(last) and np.all(m_last > 0) else errors[0]
    return (errors[0], errors[1]), math.log(t_c / t_h), max(errors[0], per_point)
