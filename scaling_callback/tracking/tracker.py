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
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from ..core import tags
from ..core.advice.board import AdviceBoard, BoardView
from ..core.assess import Assessment, assess, failed_record
from ..core.checks import positive_number, whole_number
from ..core.compute import context_flops_per_token, epochs_seen, pf_days, tokens_per_param, training_flops
from ..core.history import ForecastHistory, ForecastRecord, History, Observation
from ..core.planning import check_horizons, compress_schedule, horizon_steps, schedule_before
from ..core.status import Status
from ..core.crossrun.trend import TrendCheck, load_fit, trend_check
from ..io import write_schedule_file
from ..plots import forecast_figure_of
from ..tensorboard import write_advice_text, write_figure, write_forecast_layout
from .accounting import CONVENTIONS, TokenCounter, non_embedding_params as count_non_embedding_params
from .schedule import simulate_lr_schedule
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
        non_embedding_params: N given explicitly (positive int) instead of counted.
        convention: "kaplan" (N without token/position embeddings, Kaplan et al. 2020) or "total"
            (every parameter, Hoffmann et al. 2022).
        tokens_in_batch: fn(batch) -> int or integer tensor, the tokens of one training batch;
            default `scaling_callback.tokens_in_batch`.
        n_layer, n_ctx, d_attn: all three add the context term to the compute,
            C = (6N + 6·n_layer·n_ctx·d_attn)·D (Kaplan et al. 2020 eq. 2.2, Table 1).
        tokens_per_epoch: unique training tokens in one epoch (epochs = D / tokens_per_epoch); the
            data-limit and repeated-data advice use it.
        planned_steps: the optimizer step the run is planned to end at (the forecast's target);
            None: no planned end (then `horizons`).
        optimizer, schedulers: where the planned learning rate is simulated from (on copies:
            the real ones are untouched), from step 0 to `planned_steps`; see
            `tracking.schedule.simulate_lr_schedule`. `lr_schedule`: an explicit callable(step) -> lr
            instead. Neither: a constant learning rate is assumed (said in the notes).
        forecast: fit and advise at every `observe` (False: scale only).
        horizons, horizon_unit: steps (or tokens) to forecast at when there is no planned end.
        confidence: probability mass of the forecast interval (0.8: the 80% interval).
        min_delta: loss improvement still worth training for (the recommended stop).
        writer: a `torch.utils.tensorboard.SummaryWriter`: `observe` writes the scalars, the
            custom-scalars layout, the advice text and the figure to it (None: nothing written);
            `finish()` draws the last figure.
        figure_every: draw the forecast figure at the first forecast, every this many after, at
            the planned end and at `finish()` (0: never).
        sum_over_ranks: fn(int64 tensor) -> tensor summed over the data-parallel ranks (e.g. a
            `torch.distributed.all_reduce`); every rank must then call `observe` together.
        monitor: the name of the validation metric (the figure's label and the layout's series).
        fit: a cross-run law of this run's family (a `ScalingLawFit`, or the path of one saved by
            `scaling-callback fit --save`): at each forecast the loss it expects for N and the
            planned D is logged beside the forecast (trend/*), with a warning when the forecast's
            interval and the law's do not overlap (`core.crossrun.trend`). Read at construction.

    The advice is kept as state (`core.advice.board.AdviceBoard`, `advice`): a warning is
    raised when its condition starts, held, and cleared when it ends; "stop now" has
    hysteresis. Throughput tags (tokens/s, FLOP/s, seconds to the planned end) are logged from
    the second `observe` on, over the time between evaluations (`evaluation_started()` leaves
    the evaluation itself out).

    Attributes: `history` (every `Observation`), `forecasts` (every `ForecastRecord`),
    `assessment` (the latest), `advice` (the latest `BoardView`), `forecast_seconds` (time spent
    forecasting), `n_params` (N), `planned_steps`. `state_dict()` /
    `load_state_dict()` keep all of it across a resume. Never raises from `observe` because a
    fit failed: the record says why (`forecast/ok` is 0) and one warning is given per kind.
    """

    def __init__(self, model: Optional[torch.nn.Module] = None, *, non_embedding_params: Optional[int] = None,
                 convention: str = "kaplan", tokens_in_batch: Optional[Callable] = None,
                 n_layer: Optional[int] = None, n_ctx: Optional[int] = None, d_attn: Optional[int] = None,
                 tokens_per_epoch: Optional[int] = None, planned_steps: Optional[int] = None,
                 optimizer: Optional[torch.optim.Optimizer] = None, schedulers=(),
                 lr_schedule: Optional[Callable[[int], float]] = None, forecast: bool = True,
                 horizons=None, horizon_unit: str = "steps", confidence: float = 0.8, min_delta: float = 0.01,
                 writer=None, figure_every: int = 10,
                 sum_over_ranks: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 monitor: str = "val_loss", fit=None):
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
        if tokens_in_batch is not None and not callable(tokens_in_batch):
            raise ValueError(f"tokens_in_batch must be a callable fn(batch) -> count, got {tokens_in_batch!r}")
        context_flops_per_token(n_layer, n_ctx, d_attn)  # validates the context sizes
        if lr_schedule is not None and not callable(lr_schedule):
            raise ValueError(f"lr_schedule must be a callable step -> lr, got {lr_schedule!r}")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        positive_number(min_delta, "min_delta", what="a positive loss difference")
        whole_number(figure_every, "figure_every", minimum=0)
        if sum_over_ranks is not None and not callable(sum_over_ranks):
            raise ValueError(f"sum_over_ranks must be a callable tensor -> tensor, got {sum_over_ranks!r}")
        self.convention = convention
        self.non_embedding_params = whole_number(non_embedding_params, "non_embedding_params", minimum=1, none_ok=True)
        self.n_layer, self.n_ctx, self.d_attn = n_layer, n_ctx, d_attn
        self.tokens_per_epoch = whole_number(tokens_per_epoch, "tokens_per_epoch", minimum=1, none_ok=True)
        self.forecasting = bool(forecast)
        self.horizons = check_horizons(horizons, horizon_unit)
        self.horizon_unit = horizon_unit
        self.lr_schedule = lr_schedule
        self.confidence = float(confidence)
        self.min_delta = float(min_delta)
        self.writer = writer
        self.figure_every = int(figure_every)
        self.sum_over_ranks = sum_over_ranks
        self.reduce_device: Optional[torch.device] = None  # where the rank sum runs (a strategy's root device)
        self.monitor = monitor
        self.fit = None if fit is None else load_fit(fit)
        self.trend: Optional[TrendCheck] = None  # the latest check against `fit`
        self.name = type(self).__qualname__  # how warnings name their source (adapters set theirs)
        self.is_rank_zero = True  # whether this process warns and writes (adapters set it)
        self.tag_suffix: Optional[str] = None  # set when several trackers write to one place (tags.for_instance)
        self.n_params: Optional[int] = self.non_embedding_params
        self.planned_steps = whole_number(planned_steps, "planned_steps", minimum=1, none_ok=True)
        self.history = History()
        self.forecasts = ForecastHistory()
        self.assessment: Optional[Assessment] = None
        self._counter = TokenCounter(tokens_in_batch)
        self._tokens_restored = 0  # global count at the checkpoint this run resumed from
        self.train_batches = 0  # training micro-batches this process has seen, resumes included
        self._schedule = None  # planned lr as knots: {"steps", "lr", "end", "source", "note"}
        self._warned = set()
        self.board = AdviceBoard(self.min_delta)
        self.advice: Optional[BoardView] = None
        self.forecast_seconds = 0.0
        self.throughput = Throughput()
        self._latest_ok: Optional[Assessment] = None  # the latest successful assessment (for the last figure)
        self._figure_step: Optional[int] = None  # the step of the latest figure drawn
        self.set_schedule_source(optimizer, schedulers)
        if model is not None:
            self.set_model(model)
        if self.planned_steps is not None and (optimizer is not None or schedulers or lr_schedule is not None):
            self.simulate_schedule(self.planned_steps)  # before the first step: the whole schedule is ahead

    # ---- counting ------------------------------------------------------------------------
    def set_model(self, model: torch.nn.Module) -> None:
        """Count N of `model` (unless `non_embedding_params` was given)."""
        if self.non_embedding_params is None:
            self.n_params = count_non_embedding_params(model, self.convention)

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
                epochs: Optional[float] = None, forecast: Optional[bool] = None) -> Report:
        """Record an evaluation at optimizer step `step` and, with forecasting on (and `forecast`
        not False: adapters pass whether this process is the one that forecasts), forecast and
        advise. With a `writer`, everything is written to it at `step`.

        `val_loss` None: not measured this time (recorded as NaN, skipped by the forecast, no
        warning); a non-finite number is warned about once (a diverging run).
        `epochs`: passes over the training data so far, when the caller knows them better than
        D / tokens_per_epoch (e.g. dataloader passes)."""
        if self.n_params is None:
            raise RuntimeError(f"{self.name}: N is not known; pass the model, non_embedding_params=, or call "
                               "set_model(model) before observe()")
        tokens = self.tokens()
        flops = training_flops(self.n_params, tokens, self.n_layer, self.n_ctx, self.d_attn)
        observation = Observation(step=int(step), tokens=tokens, flops=flops,
                                  val_loss=math.nan if val_loss is None else float(val_loss),
                                  train_loss=float(train_loss))
        self.history.append(observation)
        metrics = self._scale_metrics(observation, epochs)
        rates = self.throughput.rates(observation.step, tokens, flops, self.planned_steps)
        if rates is not None:
            metrics.update(rates.metrics())
        record = assessment = advice = trend = None
        if self.forecasting and forecast is not False:
            if val_loss is not None and not math.isfinite(observation.val_loss):
                self.warn_once("nonfinite", f"{self.monitor} = {observation.val_loss} at step {step}; non-finite "
                               "losses are skipped by the forecast (their count is logged as forecast/points_skipped)")
            record, assessment = self._forecast(observation, metrics.get(tags.EPOCHS), metrics)
            self.forecasts.append(record)
            trend = self._check_trend(observation, record, metrics)
            advice = self.advice if assessment is not None else None
        if self.writer is not None:
            for tag, value in metrics.items():
                self.writer.add_scalar(tag, value, int(step))
            if assessment is not None:
                self.write_tensorboard([self.writer], assessment)
        return Report(observation, metrics, record, assessment, advice, trend)

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
            unique = self.tokens_per_epoch or (observation.tokens / epochs if epochs else None)
            planned_tokens = observation.tokens / step * target if step > 0 and target is not None else None
            assessment = assess(self.history, target_step=target, lr=lr, confidence=self.confidence,
                                min_delta=self.min_delta, n_params=self.n_params, unique_tokens=unique,
                                planned_tokens=planned_tokens, notes=notes if target is not None else (),
                                no_target_reason=notes[-1] if target is None else "",
                                horizons=self._horizons_ahead(observation) if self.planned_steps is None else ())
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            reason = f"{type(exc).__name__}: {exc}"
            metrics[tags.FORECAST_OK] = 0.0  # forecast/ok is logged at every validation, failed or not
            self.warn_once(f"forecast:{Status.ERROR.value}", f"forecast at step {step} failed ({reason}); training "
                           "continues (warned once; forecast/ok is 0 at every validation it fails)")
            return failed_record(step, reason), None
        self.assessment = assessment
        self.advice = self.board.update(assessment, planned_tokens=planned_tokens)
        self.forecast_seconds += assessment.fit_seconds
        if assessment.record.ok:
            self._latest_ok = assessment
        metrics.update(assessment.metrics)
        record = assessment.record
        if (assessment.status not in (Status.OK, Status.NO_TARGET)
                and int(np.isfinite(self.history.column("val_loss")).sum()) >= 2):
            # fewer than two points is every run's start, not a failure (see no_forecast_reason); a
            # run without a target is told once where its end is decided
            self.warn_once(f"forecast:{assessment.status.value}", f"no forecast at step {step}: {record.reason} "
                           "(warned once for this kind of reason)")
        return record, assessment

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
        schedule = self._schedule
        if schedule.get("note"):
            notes.append(schedule["note"])
        if schedule["steps"].size == 0:
            return None
        return schedule["steps"], schedule["lr"]

    def set_schedule_source(self, optimizer=None, schedulers=(), steps_per_epoch: Optional[int] = None) -> None:
        """Where the planned learning rate is read from: an optimizer (or a list of them: the
        first is followed), its schedulers (see `simulate_lr_schedule`) and the optimizer steps
        per epoch (for epoch-interval schedulers)."""
        self._optimizer, self._schedulers, self._steps_per_epoch = optimizer, schedulers, steps_per_epoch

    def simulate_schedule(self, end: int, current_step: int = 0) -> None:
        """Simulate the learning rate from `current_step` to `end` on copies of the optimizer and
        schedulers of `set_schedule_source` (`schedule.simulate_lr_schedule`; or from
        `lr_schedule`), joined to the part before `current_step` already known (a resumed run's
        checkpoint), and keep it as knots. Once, unless a later target lies further. Never
        raises: a schedule that cannot be read is assumed constant, with a warning."""
        if self._schedule is not None and self._schedule["end"] >= end:
            return
        try:
            self._simulate(int(end), self._optimizer, self._schedulers, int(current_step), self._steps_per_epoch)
        except Exception as exc:  # noqa: BLE001 - a schedule we cannot read is an assumption, not a crash
            note = f"the learning-rate schedule could not be simulated ({type(exc).__name__}: {exc}); assumed constant"
            self._schedule = {"steps": np.zeros(0, np.int64), "lr": np.zeros(0), "end": int(end),
                              "source": "none", "note": note}
            self.warn_once("schedule", note)

    def _simulate(self, end: int, optimizer, schedulers, current_step: int, steps_per_epoch) -> None:
        start = 0 if self.lr_schedule is not None else current_step
        past_steps, past_lr = (schedule_before(self._schedule["steps"], self._schedule["lr"], start)
                               if self._schedule is not None else (np.zeros(0, np.int64), np.zeros(0)))
        optimizers = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer] if optimizer else []
        if self.lr_schedule is None and not optimizers and not schedulers:
            raise ValueError("there is no optimizer to read a learning rate from")
        notes = []
        sim = simulate_lr_schedule(optimizers[0] if optimizers else None, schedulers, end, current_step=start,
                                   steps_per_epoch=steps_per_epoch, lr_schedule=self.lr_schedule)
        if sim.note:
            notes.append(sim.note)
        if len(optimizers) > 1:
            notes.append(f"the forecast follows the learning rate of the first of {len(optimizers)} optimizers")
        if start > 0 and past_steps.size == 0:
            notes.append(f"the learning rate before step {start} is not known (no schedule in the checkpoint): "
                         f"assumed {sim.lr[0]:g} as at step {start}")
        if sim.source == "constant" and not sim.note:
            notes.append(f"no learning-rate scheduler: constant learning rate {sim.lr[0]:g}")
        knot_steps, knot_lr = compress_schedule(sim.steps, sim.lr)
        note = "; ".join(notes) or None
        self._schedule = {"steps": np.concatenate([past_steps, knot_steps]), "lr": np.concatenate([past_lr, knot_lr]),
                          "end": int(end), "source": sim.source, "note": note}
        if sim.note or len(optimizers) > 1:
            self.warn_once("schedule", note)

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
            for writer in writers:
                write_forecast_layout(writer, self.monitor, suffix=self.tag_suffix, trend=self.fit is not None)
                write_advice_text(writer, assessment.markdown if advice is None else advice.markdown, step,
                                  tag=tags.for_instance(tags.ADVICE_TEXT, self.tag_suffix))
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
        event files in `log_dir`, for `scaling-callback forecast LOGDIR`; the path, or None when
        there is no planned end or schedule yet. An error writing it is a warning."""
        if self._schedule is None or self.planned_steps is None:
            return None
        try:
            return write_schedule_file(log_dir, steps=self._schedule["steps"].tolist(),
                                       lr=self._schedule["lr"].tolist(), planned_end=self.planned_steps,
                                       source=self._schedule["source"], monitor=self.monitor)
        except OSError as exc:
            self.warn_once("schedule-file", f"the planned schedule could not be saved in {log_dir} ({exc}); "
                           "`scaling-callback forecast` will assume a constant learning rate")
            return None

    # ---- state ---------------------------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        """Plain numbers. With `sum_over_ranks`, every rank must call it together (it sums the
        token count)."""
        schedule = None if self._schedule is None else {
            key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in self._schedule.items()}
        return {"tokens": self.tokens(), "train_batches": self.train_batches,
                "history": self.history.state_dict(), "forecasts": self.forecasts.state_dict(),
                "schedule": schedule, "advice": self.board.state_dict()}

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        """Restore what `state_dict` saved. Raises ValueError naming the key when the state has a
        key missing or a value of a wrong type or range (tracking/state.py); nothing is loaded
        then, so a resumed run never continues from silently wrong counts."""
        try:
            state = read_state(state_dict)
        except ValueError as exc:
            raise ValueError(f"{self.name}: the saved state is unusable: {exc}. Resume from another checkpoint, "
                             "or delete this callback's entry from the checkpoint's 'callbacks' to restart its "
                             "counts from zero") from None
        self._tokens_restored = state["tokens"]
        self.train_batches = state["train_batches"]
        self._counter.reset()
        self.history = state["history"]
        self.forecasts = state["forecasts"]  # absent in checkpoints of accounting-only versions: empty
        if state["advice"] is not None:  # absent in checkpoints of earlier versions
            self.board.load_state_dict(state["advice"])
        self._schedule = state["schedule"]

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
