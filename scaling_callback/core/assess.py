"""What the callback does at each validation end, framework-free (numpy only): forecast the
loss at the planned end from the run's history, advise on it, and turn both into the numbers
logged (`Assessment.metrics`) and the advice text (`Assessment.markdown`); `plots.forecast_figure_of`
draws it.

The callback only gathers the inputs from the Trainer (history, planned end, schedule knots,
N, unique tokens) and writes the outputs to its loggers.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Sequence, Tuple

import numpy as np

from . import advice as adv
from . import tags
from .formatting import format_number
from .forecast import Forecast, forecast
from .history import ForecastRecord, History
from .status import Status

STOP_GRID_POINTS = 65  # the forecast curve from now to the target: stop-step resolution (target − now)/64


@dataclass(frozen=True)
class ForecastSummary:
    """The forecast in words, as an advice item for `advice.advice_markdown`."""

    topic: ClassVar[str] = "Forecast"
    ok: bool
    warning: bool  # True when no forecast could be made
    message: str


@dataclass(frozen=True)
class Assessment:
    """One validation end's forecast and advice, and what to log for them."""

    record: ForecastRecord
    status: Status  # Status.OK when a forecast was made; else why not (record.reason in words)
    forecast: Optional[Forecast]  # None when there was no target step
    stop: Optional[adv.StopAdvice]
    overfitting: adv.OverfittingAdvice
    data_limit: Optional[adv.DataLimitAdvice]
    repetition: Optional[adv.RepetitionAdvice]
    efficient: Optional[adv.EfficientPoint]
    chinchilla: Optional[adv.ChinchillaReference]
    notes: Tuple[str, ...]  # what was assumed on the way (schedule, horizon, skipped points), in words
    metrics: Dict[str, float]
    markdown: str
    fit_seconds: float  # wall time of the forecasting engine's call (0 when there was no target)
    summary: ForecastSummary  # the forecast in words




def failed_record(step: int, reason: str, target_step: int = 0) -> ForecastRecord:
    nan = math.nan
    return ForecastRecord(int(step), int(target_step), nan, nan, nan, nan, nan, nan, False, reason)


def _summary(fc: Optional[Forecast], reason: Optional[str], step: int, skipped: int) -> ForecastSummary:
    if fc is None or not fc.ok:
        return ForecastSummary(False, True, f"No forecast at step {step}: {reason if fc is None else fc.reason}.")
    pct = round(100 * fc.confidence)
    head = f"Loss at step {fc.target_step}: {format_number(fc.loss)} ({pct}% interval {format_number(fc.low)} to {format_number(fc.high)}); "
    if fc.law == "overfitting":
        msg = (head + f"rising since its best {format_number(fc.params['best_loss'])} at step {int(fc.params['best_step'])} "
               f"(overfitting law, the rise carried on as the training goes on), from {fc.n_points} points")
    elif fc.law == "log-linear":
        msg = (head + "no asymptote in sight (log-linear law: the loss still falls by a steady amount per "
               f"doubling of the learning-rate area), from {fc.n_points} points")
    else:
        msg = (head + f"asymptote {format_number(fc.asymptote)} ({format_number(fc.asymptote_low)} to {format_number(fc.asymptote_high)}); "
               f"{fc.law} law, exponent {fc.exponent:.3g}, from {fc.n_points} points")
    if skipped:
        msg += f"; {skipped} non-finite validation loss(es) skipped"
    if fc.family_runs:
        msg += f"; family: {fc.family_runs} run{'s' if fc.family_runs > 1 else ''} informed this forecast"
    return ForecastSummary(True, False, msg + ".")


def assess(
    history: History,
    *,
    target_step: Optional[int],
    lr=None,
    confidence: float = 0.8,
    min_delta: float = 0.01,
    n_params: Optional[float] = None,
    unique_tokens: Optional[float] = None,
    planned_tokens: Optional[float] = None,
    horizons: Sequence[int] = (),
    notes: Sequence[str] = (),
    no_target_reason: str = "there is no step to forecast",
    previous_stop: Optional[int] = None,
    family=None,
) -> Assessment:
    """Forecast the monitored loss at `target_step` from `history` and advise.

    target_step: the step to forecast (the planned end); None when there is none, and then
        `no_target_reason` says why (the advice that needs no forecast is still given).
    lr: the planned learning rate from step 0 to (at least) target_step as (knot_steps,
        knot_lr) knots, or None (constant). confidence: mass of the forecast interval.
    min_delta: loss improvement still worth training for (the recommended stop).
    n_params, unique_tokens: N and the unique tokens of one epoch, for the data-limit and
        repeated-data advice (skipped when None). planned_tokens: for the Chinchilla reference.
    horizons: further steps (<= target_step) at which the forecast is also logged.
    notes: assumptions already made by the caller, shown with the advice.
    previous_stop: the stop step recommended at the previous validation, kept while the
        forecast's interval admits it (`advice.recommended_stop`'s `band`), so the recommended
        stop does not zigzag between validations.
    family: the run's family (a `Family` without this run, or a list of finished `FamilyRun`s),
        passed to forecast(..., family=); with it, forecast/family_runs is logged and the summary
        says how many family runs informed the forecast.

    Non-finite validation losses are skipped (and counted). Raises only on a programming
    error; a forecast that cannot be made is an Assessment whose record says why.
    """
    steps = history.column("step")
    val = history.column("val_loss")
    train = history.column("train_loss")
    now = int(steps[-1]) if steps.size else 0
    skipped = int(np.sum(~np.isfinite(val)))
    metrics: Dict[str, float] = {tags.POINTS_SKIPPED: float(skipped)}
    fc = stop = efficient = None
    fit_seconds = 0.0
    lr_steps, lr_values = lr if isinstance(lr, tuple) else (None, None)  # the planned rate's knots
    if target_step is None:
        record = failed_record(now, no_target_reason)
        metrics[tags.FORECAST_OK] = 0.0
    else:
        target = int(target_step)
        start = time.perf_counter()
        fc = forecast(steps, val, target_step=target, lr=lr, confidence=confidence, family=family)
        fit_seconds = time.perf_counter() - start
        metrics.update({tags.FORECAST_OK: float(fc.ok), tags.FINAL_STEP: float(target), tags.FIT_SECONDS: fit_seconds})
        if family is not None and fc.ok:
            metrics[tags.FAMILY_RUNS] = float(fc.family_runs)
        if fc.ok:
            grid = np.unique(np.rint(np.linspace(min(now, target), target, STOP_GRID_POINTS))).astype(np.int64)
            mid, low, high = fc.predict(grid)
            record = ForecastRecord(now, target, fc.loss, fc.low, fc.high, fc.asymptote, fc.exponent,
                                    float(mid[0]), True, None)
            metrics.update({tags.FINAL_LOSS: fc.loss, tags.FINAL_LOSS_LOW: fc.low, tags.FINAL_LOSS_HIGH: fc.high,
                            tags.ASYMPTOTIC_LOSS: fc.asymptote, tags.EXPONENT: fc.exponent, tags.FITTED_LOSS: float(mid[0]),
                            tags.POINTS_USED: float(fc.n_points)})
            stop, efficient = _stop_advice(fc, grid, (mid, low, high), target, lr_steps, lr_values, min_delta,
                                           metrics, previous_stop)
            for h in horizons:
                if now <= h <= target:
                    metrics[tags.loss_at_step(h)] = float(fc.predict([h])[0][0])
        else:
            record = failed_record(now, fc.reason, target)

    overfitting = _overfitting(steps, val, train, fc, lr_steps, lr_values)
    metrics[tags.OVERFITTING] = float(overfitting.overfitting)
    if overfitting.overfitting:
        metrics[tags.OVERFITTING_SINCE] = float(overfitting.since_step)

    data, repetition, chinchilla = _data_advice(history, n_params, unique_tokens, planned_tokens, metrics)

    engine_notes = fc.notes if fc is not None else ()
    all_notes = tuple(notes) + tuple(n for n in engine_notes if n not in notes)
    summary = _summary(fc, record.reason, now, skipped)
    items = [summary, overfitting, stop, data, repetition, efficient, chinchilla]
    markdown = adv.advice_markdown(items, step=now)
    if all_notes:
        markdown += "\n\n**Assumptions:**\n" + "\n".join(f"- {n}" for n in all_notes)
    status = Status.NO_TARGET if fc is None else fc.status
    return Assessment(record, status, fc, stop, overfitting, data, repetition, efficient, chinchilla, all_notes,
                      metrics, markdown, fit_seconds, summary)


def _data_advice(history: History, n_params, unique_tokens, planned_tokens, metrics: Dict[str, float]):
    """The data-limit, repeated-data and Chinchilla-reference advice (each None when its numbers
    are not given); their tags go into `metrics`."""
    data = repetition = chinchilla = None
    tokens = float(history[-1].tokens) if len(history) else 0.0
    if n_params is not None and unique_tokens is not None and unique_tokens > 0:
        data = adv.data_limit(n_params, unique_tokens)
        metrics[tags.TOKENS_TO_DATA_LIMIT] = data.tokens_to_data_limit
    if unique_tokens is not None and unique_tokens > 0 and tokens > 0:
        repetition = adv.repeated_data(tokens, unique_tokens)
        metrics[tags.REPEATED_DATA] = float(repetition.warning)
        metrics[tags.EFFECTIVE_DATA_FRACTION] = repetition.effective_fraction
    if n_params is not None:
        chinchilla = adv.chinchilla_reference(n_params, planned_tokens if planned_tokens else None)
    return data, repetition, chinchilla


def _stop_advice(fc: Forecast, grid, curves, target: int, lr_steps, lr_values, min_delta: float,
                 metrics: Dict[str, float], previous_stop: Optional[int] = None):
    """The recommended stop and Kaplan's efficient point on the forecast curve from now to the
    target (`curves`: its (mid, low, high) on `grid`; the band holds `previous_stop` where it is
    finite); their tags go into `metrics`."""
    mid, low, high = curves
    if not np.all(np.isfinite(mid)):
        return None, None
    band = (low, high) if np.all(np.isfinite(low)) and np.all(np.isfinite(high)) else None
    stop = adv.recommended_stop(grid, mid, target, min_delta, lr_steps=lr_steps, lr=lr_values, band=band,
                                previous_stop=previous_stop)
    metrics[tags.RECOMMENDED_STOP] = float(stop.stop_step)
    if stop.recommended_decay_start is not None:
        metrics[tags.RECOMMENDED_DECAY_START] = float(stop.recommended_decay_start)
    efficient = None
    if fc.asymptote > 0 and math.isfinite(fc.asymptote):
        efficient = adv.kaplan_efficient_point(grid, mid, fc.asymptote)
        if efficient.step is not None:
            metrics[tags.KAPLAN_EFFICIENT_STEP] = float(efficient.step)
    return stop, efficient


def _overfitting(steps, val, train, fc: Optional[Forecast], lr_steps=None, lr_values=None) -> adv.OverfittingAdvice:
    """Observed overfitting with the train loss (where logged) or the forecast as the witness
    that the loss should still fall, unless the planned rate (knots `lr_steps`, `lr_values`) rose
    since the best step."""
    finite = np.isfinite(val)
    if not finite.any():
        return adv.observed_overfitting(steps, val)
    best = int(steps[finite][np.argmin(val[finite])])
    now = int(steps[-1])
    has_train = np.isfinite(train)
    kwargs = dict(lr_steps=lr_steps, lr=lr_values)
    if has_train.sum() >= 2:
        kwargs.update(train_steps=steps[has_train], train_loss=train[has_train])
    # the forecast is asked only where the train loss cannot answer (fewer than two train points
    # since the best validation step): a forecast evaluation costs a few milliseconds
    train_answers = int(np.sum(has_train & (steps >= best))) >= 2
    # a forecast that follows a rise (law "overfitting") found it by this same rule on the
    # validation curve alone: asking it whether the loss should fall would contradict it
    if fc is not None and fc.ok and fc.law != "overfitting" and best < now and not train_answers:
        kwargs.update(forecast_steps=[best, now], forecast_loss=fc.predict([best, now])[0])
    return adv.observed_overfitting(steps, val, **kwargs)
