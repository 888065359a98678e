"""`ScalingTracker`: the run's accounting, forecast and advice for any training loop (torch, no
framework).

A plain loop calls `count(batch)` per training micro-batch and `observe(step, val_loss)` per
evaluation; the Lightning callback (lightning/callback.py) and any other adapter are thin layers
that call the same two methods from their hooks. Per micro-batch it only adds to a token
counter (no host-device sync); at `observe` it reads the count once (summed over data-parallel
ranks when given a `sum_over_ranks`), records an `Observation`, and, where it forecasts, fits the
curve at the planned end under the learning-rate schedule and advises (`core.assess`).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..core import tags
from ..core.advice.board import AdviceBoard, BoardView
from ..core.assess import Assessment, assess, failed_record
from ..core.checks import whole_number
from ..core.compute import epochs_seen, pf_days, tokens_per_param, training_flops
from ..core.history import ForecastHistory, ForecastRecord, History, Observation
from ..core.planning import horizon_steps
from ..core.status import Status
from ..core.crossrun.trend import TrendCheck, trend_check
from ..core.whatif import WhatIf, live_whatif
from ..plots import forecast_figure_of
from ..tensorboard import cooldown_now_chart, write_advice_text, write_figure, write_forecast_layout
from . import identity
from .accounting import TokenCounter, non_embedding_params as count_non_embedding_params
from .family import FamilySource
from .planned import PlannedSchedule, plan_schedule
from .settings import TrackerSettings, with_settings_signature
from .state import read_state
from .throughput import Throughput


@dataclass(frozen=True)
class Report:
    """What one `observe` produced."""

    observation: Observation
    metrics: Dict[str, float]  # tag -> value, to log at the observation's step
    record: Optional[ForecastRecord]  # the forecast made (None where this process does not forecast)
    assessment: Optional[Assessment]  # the forecast and advice in full (None likewise, or on an error)
    advice: Optional[BoardView] = None  # the advice as state after this evaluation: changes, decision, text
    trend: Optional[TrendCheck] = None  # the forecast against the family's law (with fit=, a forecast made)


def _setting(name: str) -> property:
    """A read-only attribute of the tracker that is its `settings.<name>`."""
    return property(lambda self: getattr(self.settings, name))


class ScalingTracker:
    """Counts a language-model run's scale (N, D, C = 6·N·D) and forecasts its validation loss at
    the planned end, in a plain PyTorch loop or under any framework.

    Example (a plain loop; see examples/ for a complete one):

        tracker = ScalingTracker(model, planned_steps=10_000, optimizer=opt, schedulers=sched,
                                 writer=SummaryWriter("runs/a"))
        for step, batch in enumerate(loader, start=1):
            ...; opt.step(); sched.step()
            tracker.count(batch)                       # no host-device sync
            if step % 500 == 0:
                report = tracker.observe(step, val_loss=evaluate(model))
                print(report.record)                   # forecast at step 10_000 with its interval

    Args:
        model: the module whose non-embedding parameters N are counted (or pass
            `non_embedding_params`; or call `set_model` later).
        planned_steps: the optimizer step the run is planned to end at (the forecast's target);
            None: no planned end (then `horizons`).
        optimizer, schedulers: where the planned learning rate is simulated from (on copies:
            the real ones are untouched), from step 0 to `planned_steps`; see
            `tracking.schedule.simulate_lr_schedule`. `lr_schedule`: an explicit callable(step) -> lr
            instead. Neither: a constant learning rate is assumed (said in the notes).
        writer: a `torch.utils.tensorboard.SummaryWriter`: `observe` writes the scalars, the
            custom-scalars layout, the advice text and the figure to it (None: nothing written);
            `finish()` draws the last figure.
        sum_over_ranks: fn(int64 tensor) -> tensor summed over the data-parallel ranks (e.g. a
            `torch.distributed.all_reduce`); every rank must then call `observe` together.
        monitor: the name of the validation metric (the figure's label and the layout's series).
        settings: a `TrackerSettings` (tracking/settings.py), the settings the Lightning and HF
            callbacks take too; each keyword given overrides its value:
        tokens_in_batch, non_embedding_params, convention, n_layer, n_ctx, d_attn,
        tokens_per_epoch, forecast, horizons, horizon_unit, lr_schedule, confidence, min_delta,
        figure_every, whatif_every, fit, family: the settings, as keywords; what each means, its default and its
            check: `TrackerSettings`. With `fit`, at each forecast the loss the family's law
            expects for N and the planned D is logged beside the forecast (trend/*), with a
            warning when the forecast's interval and the law's do not overlap (`core.crossrun.trend`).
            With `family` (finished runs of the same recipe: a `Family`, paths of curve CSVs or
            log dirs, or `FamilyRun`s), read at the first forecast, every forecast is sharpened
            by the family (`forecast(..., family=)`) and forecast/family_runs says by how many
            runs; a family run in one of the run's own log dirs (`log_dirs`, the writer's) is
            left out, and a family without a finished run is one warning.

    The advice is kept as state (`core.advice.board.AdviceBoard`, `advice`): a warning is
    raised when its condition starts, held, and cleared when it ends; "stop now" has
    hysteresis, and the recommended stop step (`recommended_stop`) is held from one validation
    to the next while the forecast's interval admits it (`core.advice.recommended_stop`'s
    `previous_stop`). Throughput tags (tokens/s, FLOP/s, seconds to the planned end) are logged from
    the second `observe` on, over the time between evaluations (`evaluation_started()` leaves
    the evaluation itself out).

    Attributes: `history` (every `Observation`), `forecasts` (every `ForecastRecord`),
    `assessment` (the latest), `advice` (the latest `BoardView`), `forecast_seconds` (time spent
    forecasting), `n_params` (N), `planned_steps`, `planned_schedule` (the `PlannedSchedule`
    the forecast uses), `settings` (each also read under its own name: `min_delta`, ...;
    `forecast` as `forecasting`). `add_listener(fn)`: fn(record) after every forecast.
    `state_dict()` / `load_state_dict()` keep all of it across a resume. Never raises from
    `observe` because a fit failed: the record says why (`forecast/ok` is 0) and one warning is
    given per kind.
    """

    @with_settings_signature
    def __init__(self, model: Optional[torch.nn.Module] = None, *, planned_steps: Optional[int] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None, schedulers=(), writer=None,
                 sum_over_ranks: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 monitor: str = "val_loss", settings: Optional[TrackerSettings] = None, **overrides):
        self.settings = TrackerSettings.of(settings, overrides, type(self).__qualname__)
        if sum_over_ranks is not None and not callable(sum_over_ranks):
            raise ValueError(f"sum_over_ranks must be a callable tensor -> tensor, got {sum_over_ranks!r}")
        self.writer = writer
        self.sum_over_ranks = sum_over_ranks
        self.reduce_device: Optional[torch.device] = None  # where the rank sum runs (a strategy's root device)
        self.monitor = monitor
        self.trend: Optional[TrendCheck] = None  # the latest check against `fit`
        self.name = type(self).__qualname__  # how warnings name their source (adapters set theirs)
        self.is_rank_zero = True  # whether this process warns and writes (adapters set it)
        self.tag_suffix: Optional[str] = None  # set when several trackers write to one place (tags.for_instance)
        self.log_dirs: Tuple[str, ...] = ()  # the run's own log dirs besides its writer's (adapters set them)
        self.family_tag = monitor  # the scalar of the family's log dirs holding the loss (adapters set theirs)
        self._family = FamilySource(self.family)  # read at the first forecast, then kept
        self.logs_throughput = True  # False for all but one of several trackers of one run (the run's own rates)
        self.n_params: Optional[int] = self.non_embedding_params
        self.planned_steps = whole_number(planned_steps, "planned_steps", minimum=1, none_ok=True)
        self.history = History()
        self.forecasts = ForecastHistory()
        self.assessment: Optional[Assessment] = None
        self._counter = TokenCounter(self.tokens_in_batch)
        self._tokens_restored = 0  # global count at the checkpoint this run resumed from
        self.train_batches = 0  # training micro-batches this process has seen, resumes included
        self._planned: Optional[PlannedSchedule] = None  # the planned learning rate, once simulated
        self._listeners: List[Callable[[ForecastRecord], None]] = []  # told of each forecast (add_listener)
        self._warned = set()
        self.board = AdviceBoard(self.min_delta)
        self.advice: Optional[BoardView] = None
        self.recommended_stop: Optional[int] = None  # the latest recommended stop step, held while the interval admits it
        self.forecast_seconds = 0.0
        self.throughput = Throughput()
        self._latest_ok: Optional[Assessment] = None  # the latest successful assessment (for the last figure)
        self._figure_step: Optional[int] = None  # the step of the latest figure drawn
        self._saved_params: Optional[int] = None  # N of a state loaded before N was known (checked by set_model)
        self.whatif: Optional[WhatIf] = None  # the latest cool-down-now forecast (`core.whatif.cool_down_now`)
        self.whatif_seconds = 0.0  # time spent on it
        self._whatif_line: Optional[Tuple[int, str]] = None  # (step, its line for the Text tab)
        self._whatif_tries = 0  # forecasts made with the rate at its peak (whatif_every counts them)
        self.set_schedule_source(optimizer, schedulers)
        if model is not None:
            self.set_model(model)
        if self.planned_steps is not None and (optimizer is not None or schedulers or self.lr_schedule is not None):
            self.simulate_schedule(self.planned_steps)  # before the first step: the whole schedule is ahead

    # the settings, read from `settings` under the names they have always had here
    tokens_in_batch = _setting("tokens_in_batch")
    non_embedding_params = _setting("non_embedding_params")
    convention = _setting("convention")
    n_layer = _setting("n_layer")
    n_ctx = _setting("n_ctx")
    d_attn = _setting("d_attn")
    tokens_per_epoch = _setting("tokens_per_epoch")
    forecasting = _setting("forecast")
    horizons = _setting("horizons")
    horizon_unit = _setting("horizon_unit")
    lr_schedule = _setting("lr_schedule")
    confidence = _setting("confidence")
    min_delta = _setting("min_delta")
    figure_every = _setting("figure_every")
    whatif_every = _setting("whatif_every")
    fit = _setting("fit")
    family = _setting("family")

    @property
    def planned_schedule(self) -> Optional[PlannedSchedule]:
        """The planned learning rate the forecast uses (None until simulated or restored)."""
        return self._planned

    # ---- listeners -----------------------------------------------------------------------
    def add_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Call `listener(record)` with the `ForecastRecord` of every forecast from now on (a
        failed one too: `record.ok` is False): how a stopping rule, or a hyperparameter search's
        pruner, follows the run. Adding one already there does nothing.

            def report(record):
                if record.ok:
                    trial.report(record.loss, step=record.step)   # e.g. an Optuna trial
            tracker.add_listener(report)

        In a plain loop it is called at the end of each `observe` that forecast. Under the
        Lightning and HF callbacks (their `add_listener` is this one) it is called on every
        process, after the callback has logged the forecast and shared its record between
        processes."""
        if not callable(listener):
            raise TypeError(f"a listener must be a callable fn(record), got {listener!r}")
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Stop calling `listener` (one that is not there: nothing happens)."""
        self._listeners[:] = [known for known in self._listeners if known != listener]

    def publish_forecast(self, record: ForecastRecord) -> None:
        """Tell every listener of `record`, in the order they were added. `observe` does it;
        an adapter that observes with `publish=False` calls it once the record is shared."""
        for listener in list(self._listeners):
            listener(record)

    def fresh(self) -> "ScalingTracker":
        """A tracker for a new run with this one's settings, monitor, name and listeners, and
        nothing counted: for an adapter whose Trainer trains again from step 0 (the HF Trainer's
        `hyperparameter_search` trains one run a trial with the same callbacks)."""
        new = ScalingTracker(monitor=self.monitor, settings=self.settings)
        new.name = self.name
        for listener in self._listeners:
            new.add_listener(listener)
        return new

    # ---- counting ------------------------------------------------------------------------
    def set_model(self, model: torch.nn.Module) -> None:
        """Count N of `model` (unless `non_embedding_params` was given). Raises ValueError when a
        state loaded earlier is another model's (`load_state_dict`)."""
        if self.non_embedding_params is None:
            self.n_params = count_non_embedding_params(model, self.convention)
        saved, self._saved_params = self._saved_params, None
        # a state loaded before N was known (Lightning loads it before on_fit_start): compared now
        difference = (identity.params_difference(saved, self.n_params)
                      or identity.compute_difference(self.history, self.n_params, self.n_layer, self.n_ctx, self.d_attn))
        if difference:
            raise ValueError(identity.refusal(self.name, [difference]))

    def count(self, batch) -> None:
        """Count one training micro-batch (every micro-batch, gradient accumulation included)."""
        self._counter.add_batch(batch)
        self.train_batches += 1

    def tokens(self) -> int:
        """Training tokens D so far, summed over ranks with `sum_over_ranks` (then a collective)."""
        if self.sum_over_ranks is None:
            return self._tokens_restored + self._counter.read()
        return self._tokens_restored + self._counter.read(self.sum_over_ranks, self.reduce_device)

    # ---- at each evaluation --------------------------------------------------------------
    def training_started(self, step: int = 0) -> None:
        """Training starts (or resumes) at optimizer step `step`: the throughput clock starts.
        No synchronisation: the local count is empty here."""
        tokens = self._tokens_restored + self._counter.read()
        flops = training_flops(self.n_params, tokens, self.n_layer, self.n_ctx, self.d_attn) if self.n_params else 0.0
        self.throughput.start(int(step), tokens, flops)

    def evaluation_started(self) -> None:
        """An evaluation starts: the time until `observe` is not training time."""
        self.throughput.validation_started()

    def observe(self, step: int, val_loss: Optional[float], train_loss: float = math.nan, *,
                epochs: Optional[float] = None, forecast: Optional[bool] = None, publish: bool = True) -> Report:
        """Record an evaluation at optimizer step `step` and, with forecasting on (and `forecast`
        not False: adapters pass whether this process is the one that forecasts), forecast and
        advise. With a `writer`, everything is written to it at `step`. Then, with `publish`,
        every listener (`add_listener`) is told of the forecast made (adapters pass False and
        publish the record once it is shared between processes: `publish_forecast`).

        `val_loss` None: not measured this time (recorded as NaN, skipped by the forecast, no
        warning); a non-finite number is warned about once (a diverging run).
        `epochs`: passes over the training data so far, when the caller knows them better than
        D / tokens_per_epoch (e.g. dataloader passes).

        `step` never decreases: a step before the latest observed is a ValueError (nothing is
        recorded, later observations go on); the latest step again (a final evaluation after the
        loop) replaces that point and its forecast, with one warning."""
        observation = self._record_observation(step, val_loss, train_loss)
        metrics = self._scale_metrics(observation, epochs)
        rates = self.throughput.rates(observation.step, observation.tokens, observation.flops, self.planned_steps)
        if rates is not None and self.logs_throughput:
            metrics.update(rates.metrics())
        record = assessment = advice = trend = None
        if self.forecasting and forecast is not False:
            if val_loss is not None and not math.isfinite(observation.val_loss):
                self.warn_once("nonfinite", f"{self.monitor} = {observation.val_loss} at step {step}; non-finite "
                               "losses are skipped by the forecast (their count is logged as forecast/points_skipped)")
            record, assessment = self._forecast(observation, metrics.get(tags.EPOCHS), metrics)
            self.record_forecast(record)
            trend = self._check_trend(observation, record, metrics)
            advice = self.advice if assessment is not None else None
        if self.writer is not None:
            for tag, value in metrics.items():
                self.writer.add_scalar(tag, value, int(step))
            if assessment is not None:
                self.write_tensorboard([self.writer], assessment)
        if publish and record is not None:
            self.publish_forecast(record)
        return Report(observation, metrics, record, assessment, advice, trend)

    def _record_observation(self, step: int, val_loss: Optional[float], train_loss: float) -> Observation:
        """The evaluation's step, D (summed over ranks), C and losses, appended to the history."""
        if self.n_params is None:
            raise RuntimeError(f"{self.name}: N is not known; pass the model, non_embedding_params=, or call "
                               "set_model(model) before observe()")
        repeat = self._check_step(int(step))  # before the rank sum: every rank refuses alike
        tokens = self.tokens()
        flops = training_flops(self.n_params, tokens, self.n_layer, self.n_ctx, self.d_attn)
        observation = Observation(step=int(step), tokens=tokens, flops=flops,
                                  val_loss=math.nan if val_loss is None else float(val_loss),
                                  train_loss=float(train_loss))
        if repeat:  # one point per step: the later evaluation replaces the earlier one
            self.history = History([*self.history[:-1], observation])
        else:
            self.history.append(observation)
        return observation

    def _check_step(self, step: int) -> bool:
        """Whether `step` repeats the latest observation's step (then warned once: it will
        replace it). A step before it is a ValueError, raised before anything is recorded: the
        history stays strictly increasing, so later forecasts are unaffected."""
        if not len(self.history):
            return False
        last = self.history[-1].step
        if step < last:
            raise ValueError(f"{self.name}: observe(step={step}) goes back: the history already holds step {last}. "
                             "Steps are the run's optimizer step (e.g. trainer.global_step), which never "
                             "decreases; a step counter restarted each epoch does. Nothing was recorded; a new "
                             "run needs a new tracker")
        if step == last:
            self.warn_once("repeated-step", f"step {step} was observed twice (e.g. a final evaluation after the loop "
                           "at the last step): the later evaluation replaces the earlier one in the history and "
                           "in the forecasts (warned once)")
        return step == last

    def record_forecast(self, record: ForecastRecord) -> None:
        """Keep `record` in `forecasts`, replacing the record of the same step (a repeated
        observation, `observe`); adapters call it with the record shared between processes."""
        if len(self.forecasts) and self.forecasts[-1].step == record.step:
            self.forecasts = ForecastHistory([*self.forecasts[:-1], record])
        else:
            self.forecasts.append(record)

    def _scale_metrics(self, observation: Observation, epochs: Optional[float]) -> Dict[str, float]:
        metrics = {
            tags.PARAMS_BY_CONVENTION[self.convention]: float(self.n_params),
            tags.TOKENS: float(observation.tokens),
            tags.FLOPS: observation.flops,
            tags.PF_DAYS: pf_days(observation.flops),
            tags.TOKENS_PER_PARAM: tokens_per_param(observation.tokens, self.n_params),
        }
        if self.tokens_per_epoch is not None:
            epochs = epochs_seen(observation.tokens, self.tokens_per_epoch)
        if epochs is not None:
            metrics[tags.EPOCHS] = float(epochs)
        return metrics

    def _forecast(self, observation: Observation, epochs: Optional[float], metrics: Dict[str, float]):
        """Forecast and advise; adds the tags to `metrics`. Never raises: a failure is a
        warning and a record that says why."""
        step = observation.step
        try:
            target, notes = self._target(observation)
            lr = self._lr_knots(target, notes) if target is not None else None
            family = None
            if target is not None:
                family, family_notes = self._family.family(self.own_log_dirs(), self.family_tag, self.warn_once)
                notes += family_notes
            unique = self.tokens_per_epoch or (observation.tokens / epochs if epochs else None)
            planned_tokens = observation.tokens / step * target if step > 0 and target is not None else None
            assessment = assess(self.history, target_step=target, lr=lr, confidence=self.confidence,
                                min_delta=self.min_delta, n_params=self.n_params, unique_tokens=unique,
                                planned_tokens=planned_tokens, notes=notes if target is not None else (),
                                no_target_reason=notes[-1] if target is None else "",
                                horizons=self._horizons_ahead(observation) if self.planned_steps is None else (),
                                previous_stop=self.recommended_stop, family=family)
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            reason = f"{type(exc).__name__}: {exc}"
            metrics[tags.FORECAST_OK] = 0.0  # forecast/ok is logged at every validation, failed or not
            self.warn_once(f"forecast:{Status.ERROR.value}", f"forecast at step {step} failed ({reason}); training "
                           "continues (warned once; forecast/ok is 0 at every validation it fails)")
            return failed_record(step, reason), None
        self.assessment = assessment
        if assessment.stop is not None:  # a validation without one keeps the last to hold
            self.recommended_stop = assessment.stop.stop_step
        self.advice = self.board.update(assessment, planned_tokens=planned_tokens, reached=observation.val_loss)
        self.forecast_seconds += assessment.fit_seconds
        if assessment.record.ok:
            self._latest_ok = assessment
        metrics.update(assessment.metrics)
        record = assessment.record
        if record.ok and self.planned_steps is not None and self.whatif_every:
            self._cool_down_now(step, lr, record, metrics)
        if (assessment.status not in (Status.OK, Status.NO_TARGET)
                and int(np.isfinite(self.history.column("val_loss")).sum()) >= 2):
            # fewer than two points is every run's start, not a failure (see no_forecast_reason); a
            # run without a target is told once where its end is decided
            self.warn_once(f"forecast:{assessment.status.value}", f"no forecast at step {step}: {record.reason} "
                           "(warned once for this kind of reason)")
        return record, assessment

    def own_log_dirs(self) -> Tuple[str, ...]:
        """Where this run writes its logs: `log_dirs` and its writer's (a family run there is this run)."""
        get_logdir = getattr(self.writer, "get_logdir", None)
        return self.log_dirs + ((get_logdir(),) if callable(get_logdir) else ())

    def _cool_down_now(self, step: int, lr, record: ForecastRecord, metrics: Dict[str, float]) -> None:
        """The cool-down-now forecast (`core.whatif.live_whatif`) into `metrics`, at the first
        validation with the rate at its peak and every `whatif_every` after; never raises."""
        steps, losses = self.history.column("step"), self.history.column("val_loss")
        if self._whatif_tries % self.whatif_every:
            self._whatif_tries += 1
            return
        try:
            found, logged, line = live_whatif(steps, losses, planned_lr=lr, planned_end=self.planned_steps,
                                              planned_loss=record.loss, planned_low=record.low,
                                              planned_high=record.high, confidence=self.confidence)
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            self.warn_once("whatif", f"the cool-down-now forecast failed at step {step} ({type(exc).__name__}: {exc})")
            return
        if found is None:
            return
        self._whatif_tries += 1
        self.whatif_seconds += logged.get(tags.WHATIF_SECONDS, 0.0)
        self.whatif = found
        self._whatif_line = (step, line) if line else None
        metrics.update(logged)

    def _check_trend(self, observation: Observation, record: ForecastRecord, metrics: Dict[str, float]):
        """The forecast against the family's law (`fit=`): trend/* tags, a warning when off trend.
        None without a fit or a forecast; never raises."""
        if self.fit is None or not record.ok or observation.step <= 0 or record.target_step <= 0:
            return None
        planned_tokens = observation.tokens / observation.step * record.target_step
        try:
            check = trend_check(self.fit, float(self.n_params), planned_tokens, record.loss, record.low,
                                record.high, unique_tokens=self.tokens_per_epoch)
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            self.warn_once("trend:error", f"the cross-run law could not be evaluated ({type(exc).__name__}: {exc})")
            return None
        self.trend = check
        e = check.expected
        metrics[tags.TREND_EXPECTED] = e.value
        if e.low is not None:
            metrics[tags.TREND_EXPECTED_LOW], metrics[tags.TREND_EXPECTED_HIGH] = e.low, e.high
        metrics[tags.TREND_GAP] = check.gap
        metrics[tags.TREND_OFF] = {"above": 1.0, "below": -1.0}.get(check.direction, 0.0)
        if check.off_trend:
            self.warn_once(f"trend:{check.direction}", f"at step {observation.step}: {check.message} "
                           "(warned once per direction)")
        return check

    def warn_if_no_forecast(self) -> None:
        """At the end of training: one warning when no forecast was made in the whole run, unless
        the run was already warned why (a failing forecast, no planned end): one warning a run."""
        reason = self.no_forecast_reason() if self.forecasting else None
        if reason and not any(key == "no-end" or key.startswith("forecast:") for key in self._warned):
            self.warn_once("no-forecast", reason)

    def no_forecast_reason(self) -> Optional[str]:
        """Why no forecast was made in the whole run, or None when one was (or none was tried)."""
        if not len(self.forecasts) or any(r.ok for r in self.forecasts):
            return None
        last = self.forecasts[-1]
        return f"no forecast could be made in this run; the latest reason, at step {last.step}: {last.reason}"

    def _horizons_ahead(self, observation: Observation):
        if self.horizons is None:
            return ()
        return horizon_steps(self.horizons, self.horizon_unit, step=observation.step, tokens=observation.tokens)

    def _target(self, observation: Observation):
        """(target step, notes), or (None, [reason]) when there is nothing to forecast."""
        if self.planned_steps is not None:
            return self.planned_steps, []
        if self.horizons is None:
            return None, ["the run has no planned end and no horizons= were given"]
        ahead = self._horizons_ahead(observation)
        if not ahead:
            return None, [f"every horizon ({list(self.horizons)} {self.horizon_unit}) is behind step {observation.step}"]
        unit = ("" if self.horizon_unit == "steps"
                else f" (horizons in tokens at {observation.tokens / observation.step:.4g} tokens per step)")
        return ahead[-1], [f"the run has no planned end: forecasting at the furthest horizon ahead, step {ahead[-1]}{unit}"]

    # ---- the planned learning rate -------------------------------------------------------
    def _lr_knots(self, target: int, notes: List[str]):
        """The planned learning rate as (steps, lr) knots covering 0..target, simulated when
        not yet known that far; None (constant) when it cannot be had."""
        self.simulate_schedule(target, current_step=int(self.history[-1].step) if len(self.history) else 0)
        if self._planned.note:
            notes.append(self._planned.note)
        return self._planned.knots()

    def set_schedule_source(self, optimizer=None, schedulers=(), steps_per_epoch: Optional[int] = None) -> None:
        """Where the planned learning rate is read from: an optimizer (or a list of them: the
        first is followed), its schedulers (see `simulate_lr_schedule`) and the optimizer steps
        per epoch (for epoch-interval schedulers)."""
        self._optimizer, self._schedulers, self._steps_per_epoch = optimizer, schedulers, steps_per_epoch

    def simulate_schedule(self, end: int, current_step: int = 0) -> None:
        """Simulate the learning rate from `current_step` to `end` on copies of the optimizer and
        schedulers of `set_schedule_source` (`schedule.simulate_lr_schedule`; or from
        `lr_schedule`), joined to the part before `current_step` already known (a resumed run's
        checkpoint), and keep it as knots (`planned_schedule`, planned.py). Once, unless a later
        target lies further. Never raises: a schedule that cannot be read is assumed constant,
        with a warning."""
        if self._planned is not None and self._planned.end >= end:
            return
        try:
            self._planned, warning = plan_schedule(
                int(end), self._optimizer, self._schedulers, current_step=int(current_step),
                steps_per_epoch=self._steps_per_epoch, lr_schedule=self.lr_schedule, known=self._planned)
        except Exception as exc:  # noqa: BLE001 - a schedule we cannot read is an assumption, not a crash
            warning = f"the learning-rate schedule could not be simulated ({type(exc).__name__}: {exc}); assumed constant"
            self._planned = PlannedSchedule.unreadable(int(end), warning)
        if warning:
            self.warn_once("schedule", warning)

    # ---- TensorBoard extras --------------------------------------------------------------
    def write_tensorboard(self, writers, assessment: Assessment) -> None:
        """The layout (once per writer), the advice as state in words (`advice.markdown`) and the
        figure at the first forecast, every `figure_every` forecasts and at the planned end. A
        failure here is a warning: the scalars are logged all the same."""
        if not writers:
            return
        step = assessment.record.step
        n_ok = sum(1 for r in self.forecasts if r.ok)
        at_end = self.planned_steps is not None and step >= self.planned_steps
        draw = assessment.record.ok and self.figure_every > 0 and ((n_ok - 1) % self.figure_every == 0 or at_end)
        advice = self.advice if self.advice is not None and self.advice.step == step else None
        try:
            whatif_line = self._whatif_line[1] if self._whatif_line and self._whatif_line[0] == step else None
            charts = [cooldown_now_chart(self.tag_suffix)] if self.whatif_every else []
            for writer in writers:
                write_forecast_layout(writer, self.monitor, suffix=self.tag_suffix, trend=self.fit is not None,
                                      extra_charts=charts)
                write_advice_text(writer, assessment.markdown if advice is None else advice.markdown, step,
                                  tag=tags.for_instance(tags.ADVICE_TEXT, self.tag_suffix))
                if whatif_line:
                    write_advice_text(writer, whatif_line, step, tag=tags.for_instance(tags.WHATIF_TEXT, self.tag_suffix))
            if draw:
                self._draw(writers, assessment)
        except Exception as exc:  # noqa: BLE001
            self.warn_once("tensorboard", f"writing the forecast to TensorBoard failed at step {step} "
                           f"({type(exc).__name__}: {exc}); the scalars are still logged")

    def finish(self, writers=None) -> None:
        """At the end of training: the figure of the latest forecast, where it was not drawn yet
        (a run that ends between validations, or stopped early), to `writers` (default: the
        tracker's writer)."""
        writers = [self.writer] if writers is None and self.writer is not None else list(writers or ())
        latest = self._latest_ok
        if not writers or latest is None or self.figure_every == 0 or self._figure_step == latest.record.step:
            return
        try:
            self._draw(writers, latest)
        except Exception as exc:  # noqa: BLE001
            self.warn_once("tensorboard", f"drawing the final forecast figure failed ({type(exc).__name__}: {exc})")

    def _draw(self, writers, assessment: Assessment) -> None:
        history = History(o for o in self.history if o.step <= assessment.record.step)
        figure = forecast_figure_of(history, assessment, monitor=self.monitor)
        for writer in writers:
            write_figure(writer, figure, assessment.record.step, tag=tags.for_instance(tags.FORECAST_FIGURE, self.tag_suffix))
        self._figure_step = assessment.record.step

    def save_schedule(self, log_dir: str) -> Optional[str]:
        """Save the planned schedule (the knots the forecast uses) and the planned end beside the
        event files in `log_dir`, for `scaling-callback forecast LOGDIR` (`PlannedSchedule.write`);
        the path, or None when there is no planned end or schedule yet. An error writing it is a
        warning."""
        if self._planned is None or self.planned_steps is None:
            return None
        try:
            return self._planned.write(log_dir, self.monitor, planned_end=self.planned_steps)
        except OSError as exc:
            self.warn_once("schedule-file", f"the planned schedule could not be saved in {log_dir} ({exc}); "
                           "`scaling-callback forecast` will assume a constant learning rate")
            return None

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        """Plain numbers. With `sum_over_ranks`, every rank must call it together (it sums the
        token count)."""
        schedule = None if self._planned is None else self._planned.state_dict()
        return {"tokens": self.tokens(), "train_batches": self.train_batches,
                "history": self.history.state_dict(), "forecasts": self.forecasts.state_dict(),
                "schedule": schedule, "advice": self.board.state_dict(), "recommended_stop": self.recommended_stop,
                # what identifies the run, compared by load_state_dict (identity.py)
                "n_params": self.n_params, "convention": self.convention, "planned_steps": self.planned_steps}

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        """Restore what `state_dict` saved. Raises ValueError naming the key when the state has a
        key missing or a value of a wrong type or range (tracking/state.py), and naming what
        differs when the state is another run's: another N, convention, compute per token,
        planned end or learning-rate scheduler than this tracker's (identity.py; what is not known
        yet is compared when it is: N by `set_model`). Nothing is loaded then, so a resumed run
        never continues from silently wrong or mixed counts."""
        try:
            state = read_state(state_dict)
        except ValueError as exc:
            raise ValueError(f"{self.name}: the saved state is unusable: {exc}. Resume from another checkpoint, "
                             "or delete this callback's entry from the checkpoint's 'callbacks' to restart its "
                             "counts from zero") from None
        differences = self._differences_from(state)
        plan = identity.plan_differences(state["planned_steps"], self.planned_steps, state["schedule"], self._planned)
        if differences or plan:
            raise ValueError(identity.refusal(self.name, differences + plan, plan_differs=bool(plan)))
        self._saved_params = state["n_params"] if self.n_params is None else None
        self._tokens_restored = state["tokens"]
        self.train_batches = state["train_batches"]
        self._counter.reset()
        self.history = state["history"]
        self.forecasts = state["forecasts"]  # absent in checkpoints of accounting-only versions: empty
        if state["advice"] is not None:  # absent in checkpoints of earlier versions
            self.board.load_state_dict(state["advice"])
        self.recommended_stop = state["recommended_stop"]  # None in checkpoints of earlier versions
        self._planned = state["schedule"]

    def _differences_from(self, state: dict) -> List[str]:
        """What makes the checked `state` another model's than this tracker's, in words (the
        plan: `identity.plan_differences`)."""
        found = [identity.convention_difference(state["convention"], self.convention),
                 identity.params_difference(state["n_params"], self.n_params)]
        if not any(found):
            found.append(identity.compute_difference(state["history"], self.n_params, self.n_layer, self.n_ctx,
                                                     self.d_attn))
        return [d for d in found if d]

    # ---- warnings ------------------------------------------------------------------------
    def warn_once(self, key: str, message: str) -> None:
        """One UserWarning per `key` for the tracker's life, from rank zero only."""
        if key in self._warned:
            return
        self._warned.add(key)
        if self.is_rank_zero:
            warnings.warn(f"{self.name}: {message}", UserWarning, stacklevel=3)

    def warned(self, key: str) -> bool:
        return key in self._warned
