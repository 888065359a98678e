"""The framework-free core of ScalingLawCallback: settings, counters, history, forecasts, logging.

It implements the Lightning hooks against a duck-typed trainer and imports no Lightning
namespace; `namespaces.py` puts it over each namespace's `Callback` base class. Per training micro-batch it only adds to a token counter
(no host-device sync); at each validation end (outside the sanity check) it reads the count
once, summed over ranks, records an `Observation`, logs the scale of the run and, on global
rank zero, forecasts the planned end and advises (`tracking.assess`); the forecast's record is
broadcast to the other ranks so that a `ForecastEarlyStopping` decides the same everywhere.
"""
from __future__ import annotations

import importlib.util
import math
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np

from ..core import tags
from ..core.assess import assess, failed_record
from ..core.compute import context_flops_per_token, epochs_seen, pf_days, tokens_per_param, training_flops
from ..core.history import ForecastHistory, ForecastRecord, History, Observation
from ..core.planning import check_horizons, compress_schedule, horizon_steps, planned_end_step, schedule_before
from ..plots import forecast_figure_of
from ..tensorboard import write_advice_text, write_figure, write_forecast_layout
from ..tracking.accounting import CONVENTIONS, TokenCounter, non_embedding_params as count_non_embedding_params
from ..tracking.schedule import simulate_lr_schedule


def _positive_int(value, name: str) -> Optional[int]:
    """None, or a positive whole number (an integral float such as 1.5e8 included) as an int."""
    if value is None:
        return None
    whole = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (whole or hasattr(value, "__index__")) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


def tensorboard_writers(trainer) -> list:
    """The SummaryWriters of the trainer's TensorBoardLoggers (either Lightning namespace)."""
    return [logger.experiment for logger in trainer.loggers
            if any(c.__name__ == "TensorBoardLogger" for c in type(logger).__mro__)]


class ScalingLawCore:
    """Logs a language-model run's scale (N, D, C = 6·N·D) at every validation end.

    Tags, logged through every logger of the Trainer at `trainer.global_step`:
    scaling/params_non_embedding (scaling/params_total with convention="total"), scaling/tokens,
    scaling/compute_flops, scaling/compute_pf_days, scaling/tokens_per_param, scaling/epochs.

    Args:
        monitor: validation metric recorded in the history (one warning when it is missing).
        train_monitor: training-loss metric recorded beside it when logged (None: not recorded).
        tokens_in_batch: fn(batch) -> int or integer tensor, the tokens of one training batch;
            default `scaling_callback.tokens_in_batch` (token tensor numel; attention_mask.sum()
            for dicts with input_ids; first element of tuples/lists).
        non_embedding_params: N given explicitly (positive int) instead of counted from the model.
        convention: "kaplan" (N without token/position embeddings, Kaplan et al. 2020) or "total"
            (every parameter, Hoffmann et al. 2022).
        n_layer, n_ctx, d_attn: all three add the context term to the compute,
            C = (6N + 6·n_layer·n_ctx·d_attn)·D (Kaplan et al. 2020 eq. 2.2, Table 1).
        tokens_per_epoch: unique training tokens in one epoch; epochs = D / tokens_per_epoch. When
            None, epochs are passes over the training dataloader (micro-batches seen /
            trainer.num_training_batches); not logged (one warning) when that length is unknown.
            The data-limit and repeated-data advice use it, else D / epochs.
        forecast: fit the validation curve and advise at every validation end (False: scale only).
        horizons: steps (or tokens, with horizon_unit="tokens") to forecast at when the run has
            no finite end (max_steps and max_epochs unlimited, or an epoch limit with a
            dataloader of unknown length); the furthest one still ahead is the target. Ignored,
            with a note, when the run has an end.
        horizon_unit: "steps" or "tokens" (converted at the run's tokens per step so far).
        lr_schedule: callable(step) -> lr, the planned learning rate of every optimizer step;
            when None it is simulated from the configured optimizer and schedulers.
        confidence: probability mass of the forecast interval (0.8: the 80% interval).
        min_delta: loss improvement still worth training for, for advice/recommended_stop_step.
        figure_every: draw the forecast figure into TensorBoard at the first forecast and every
            this many validations after (needs matplotlib; 0: never).

    Every training micro-batch is counted (gradient accumulation included), on every rank; the
    count stays on the device and is summed over ranks only when read (validation end, checkpoint).

    Forecast tags (logged by global rank zero; see docs/callback.md): forecast/final_loss,
    forecast/final_loss_low, forecast/final_loss_high, forecast/asymptotic_loss,
    forecast/exponent, forecast/final_step, forecast/fitted_loss, forecast/ok,
    forecast/points_used, forecast/points_skipped, forecast/fit_seconds, advice/recommended_stop_step,
    advice/overfitting, advice/tokens_to_data_limit, advice/repeated_data,
    advice/effective_data_fraction (and, when they apply, advice/recommended_decay_start_step,
    advice/overfitting_since_step, advice/kaplan_efficient_step, forecast/loss_at_step_<h>).
    With a TensorBoardLogger: a custom-scalars layout, the advice text and the figure.
    Attributes: `forecasts` (ForecastHistory of every validation's ForecastRecord, on every
    rank, kept in checkpoints), `assessment` (the latest `tracking.Assessment`, rank zero only),
    `planned_end` (the target step of the run, None when it has no end).
    A fit that fails is a warning with the reason, never an exception in the training loop.
    """

    def __init__(self, monitor: str = "val_loss", train_monitor: Optional[str] = "train_loss",
                 tokens_in_batch: Optional[Callable] = None, non_embedding_params: Optional[int] = None,
                 convention: str = "kaplan", n_layer: Optional[int] = None, n_ctx: Optional[int] = None,
                 d_attn: Optional[int] = None, tokens_per_epoch: Optional[int] = None, forecast: bool = True,
                 horizons=None, horizon_unit: str = "steps", lr_schedule: Optional[Callable[[int], float]] = None,
                 confidence: float = 0.8, min_delta: float = 0.01, figure_every: int = 10):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a metric name, got {monitor!r}")
        if train_monitor is not None and (not isinstance(train_monitor, str) or not train_monitor):
            raise ValueError(f"train_monitor must be a metric name or None, got {train_monitor!r}")
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
        if tokens_in_batch is not None and not callable(tokens_in_batch):
            raise ValueError(f"tokens_in_batch must be a callable fn(batch) -> count, got {tokens_in_batch!r}")
        context_flops_per_token(n_layer, n_ctx, d_attn)  # validates the context sizes
        if lr_schedule is not None and not callable(lr_schedule):
            raise ValueError(f"lr_schedule must be a callable step -> lr, got {lr_schedule!r}")
        if not 0.0 < float(confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        if not (math.isfinite(float(min_delta)) and float(min_delta) > 0):
            raise ValueError(f"min_delta must be a positive loss difference, got {min_delta!r}")
        if isinstance(figure_every, bool) or not hasattr(figure_every, "__index__") or figure_every < 0:
            raise ValueError(f"figure_every must be a whole number >= 0, got {figure_every!r}")
        self.forecasting = bool(forecast)
        self.horizons = check_horizons(horizons, horizon_unit)
        self.horizon_unit = horizon_unit
        self.lr_schedule = lr_schedule
        self.confidence = float(confidence)
        self.min_delta = float(min_delta)
        self.figure_every = int(figure_every)
        self.monitor = monitor
        self.train_monitor = train_monitor
        self.convention = convention
        self.non_embedding_params = _positive_int(non_embedding_params, "non_embedding_params")
        self.n_layer, self.n_ctx, self.d_attn = n_layer, n_ctx, d_attn
        self.tokens_per_epoch = _positive_int(tokens_per_epoch, "tokens_per_epoch")
        self.n_params: Optional[int] = self.non_embedding_params  # N, counted at fit start unless given
        self.history = History()
        self._counter = TokenCounter(tokens_in_batch)
        self._tokens_restored = 0  # global count at the checkpoint this run resumed from
        self._train_batches = 0  # training micro-batches this rank has seen, resumes included
        self._strategy = None
        self._warned = set()
        self.forecasts = ForecastHistory()
        self.assessment = None  # the latest tracking.Assessment (global rank zero)
        self.planned_end: Optional[int] = None
        self._schedule = None  # planned lr as knots: {"steps", "lr", "end", "source", "note"}
        self._listeners: List = []  # ForecastEarlyStopping cores told of each forecast record

    # ---- Lightning hooks -----------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Distinct for instances with different settings, stable across processes and resumes."""
        settings = dict(monitor=self.monitor, convention=self.convention,
                        non_embedding_params=self.non_embedding_params,
                        n_layer=self.n_layer, n_ctx=self.n_ctx, d_attn=self.d_attn)
        return f"{type(self).__qualname__}{settings!r}"

    def on_fit_start(self, trainer, pl_module) -> None:
        self._strategy = trainer.strategy
        if self.non_embedding_params is None:
            self.n_params = count_non_embedding_params(pl_module, self.convention)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._counter.add_batch(batch)
        self._train_batches += 1

    def on_train_start(self, trainer, pl_module) -> None:
        """The planned end and its learning-rate schedule: the dataloaders are set up and a
        resumed run's loops, optimizers and schedulers restored by now."""
        if not self.forecasting:
            return
        self.planned_end = planned_end_step(trainer.max_steps, trainer.max_epochs, trainer.num_training_batches,
                                            trainer.accumulate_grad_batches)
        if self.planned_end is not None:
            if self.horizons is not None:
                self._note(trainer, "horizons", f"horizons={list(self.horizons)} are ignored: the run has a planned "
                           f"end at step {self.planned_end}")
            if trainer.is_global_zero:
                self._ensure_schedule(trainer, self.planned_end)
        elif self.horizons is None:
            self._warn_once(trainer, "no-end", f"{type(self).__qualname__}: the run has no planned end (max_steps="
                            f"{trainer.max_steps}, max_epochs={trainer.max_epochs}, "
                            f"{trainer.num_training_batches} batches per epoch), so there is nothing to forecast; "
                            "pass horizons=[steps, ...] (or horizon_unit='tokens') to forecast at given points")

    def on_train_end(self, trainer, pl_module) -> None:
        if (self.forecasting and len(self.forecasts) and not any(r.ok for r in self.forecasts)
                and "no-end" not in self._warned):  # a run without an end was told at its start
            self._warn_once(trainer, "no-forecast", f"{type(self).__qualname__}: no forecast could be made in this "
                            f"run; the latest reason, at step {self.forecasts[-1].step}: {self.forecasts[-1].reason}")

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or getattr(trainer.state, "fn", None) != "fit":
            return
        observation = self._observe(trainer)
        self.history.append(observation)
        metrics = self._scale_metrics(trainer, observation)
        if not self.forecasting:
            self._log_metrics(trainer, metrics)
            return
        record = None
        if trainer.is_global_zero:  # the forecast's tags join the scale's in one log call
            record = self._forecast(trainer, observation, metrics.get(tags.EPOCHS), metrics)
        self._log_metrics(trainer, metrics)
        if trainer.world_size > 1:  # every rank takes part: the gate decides on the same record everywhere
            record = trainer.strategy.broadcast(record, src=0)
        self.forecasts.append(record)
        for listener in self._listeners:
            listener.on_forecast(trainer, record)

    def state_dict(self) -> Dict[str, object]:
        """Plain numbers. Under DDP every rank must call it together (it sums the token count)."""
        schedule = None if self._schedule is None else {
            key: (value.tolist() if isinstance(value, np.ndarray) else value) for key, value in self._schedule.items()}
        return {"tokens": self._read_tokens(), "train_batches": self._train_batches,
                "history": self.history.state_dict(), "forecasts": self.forecasts.state_dict(),
                "schedule": schedule}

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        self._tokens_restored = int(state_dict["tokens"])
        self._train_batches = int(state_dict["train_batches"])
        self._counter.reset()
        self.history = History.from_state_dict(state_dict["history"])
        forecasts = state_dict.get("forecasts")  # absent in checkpoints of accounting-only versions
        self.forecasts = ForecastHistory() if forecasts is None else ForecastHistory.from_state_dict(forecasts)
        schedule = state_dict.get("schedule")
        self._schedule = None if schedule is None else dict(
            schedule, steps=np.asarray(schedule["steps"], dtype=np.int64), lr=np.asarray(schedule["lr"], dtype=float))

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        states = checkpoint.get("callbacks") or {}
        if self.state_key in states:
            return
        prefix = type(self).__qualname__
        others = [key for key in states if isinstance(key, str) and key.startswith(prefix)]
        why = (f"it holds {others}, saved with other settings" if others
               else "it holds no state of this callback")
        self._warn_once(trainer, "resume", f"{prefix}: the checkpoint has no state under {self.state_key!r} ({why}); "
                        "the token count and history restart from zero. Resume with the settings the run "
                        "was started with to continue its counts.")

    # ---- the core, shared by every namespace ---------------------------------------------
    def _forecast(self, trainer, observation: Observation, epochs: Optional[float],
                  metrics: Dict[str, float]) -> ForecastRecord:
        """Global rank zero: forecast and advise; adds the tags to `metrics` and writes the
        TensorBoard extras. Never raises: a failure is a warning and a record that says why."""
        step = observation.step
        if not math.isfinite(observation.val_loss) and self.monitor in trainer.callback_metrics:
            self._warn_once(trainer, "nonfinite", f"{type(self).__qualname__}: {self.monitor} = "
                            f"{observation.val_loss} at step {step}; non-finite losses are skipped by the forecast "
                            "(their count is logged as forecast/points_skipped)")
        try:
            target, notes = self._target(trainer, observation)
            lr = self._lr_knots(trainer, target, notes) if target is not None else None
            unique = self.tokens_per_epoch or (observation.tokens / epochs if epochs else None)
            planned_tokens = observation.tokens / step * target if step > 0 and target is not None else None
            assessment = assess(self.history, target_step=target, lr=lr, confidence=self.confidence,
                                min_delta=self.min_delta, n_params=self.n_params, unique_tokens=unique,
                                planned_tokens=planned_tokens, notes=notes if target is not None else (),
                                no_target_reason=notes[-1] if target is None else "",
                                horizons=self._horizons_ahead(observation) if self.planned_end is None else ())
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            reason = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"{type(self).__qualname__}: forecast at step {step} failed ({reason}); training "
                          "continues", UserWarning, stacklevel=2)
            return failed_record(step, reason)
        self.assessment = assessment
        metrics.update(assessment.metrics)
        record = assessment.record
        if (not record.ok and assessment.forecast is not None
                and int(np.isfinite(self.history.column("val_loss")).sum()) >= 2):
            # fewer than two points is every run's start, not a failure (see on_train_end); a run
            # without a target was told at its start
            self._warn_once(trainer, f"forecast:{assessment.status.value}", f"{type(self).__qualname__}: no forecast at step {step}: "
                            f"{record.reason} (warned once for this kind of reason)")
        self._write_tensorboard(trainer, assessment)
        return record

    def _horizons_ahead(self, observation: Observation):
        if self.horizons is None:
            return ()
        return horizon_steps(self.horizons, self.horizon_unit, step=observation.step, tokens=observation.tokens)

    def _target(self, trainer, observation: Observation):
        """(target step, notes), or (None, [reason]) when there is nothing to forecast."""
        if self.planned_end is not None:
            return self.planned_end, []
        if self.horizons is None:
            return None, ["the run has no planned end and no horizons= were given"]
        ahead = self._horizons_ahead(observation)
        if not ahead:
            return None, [f"every horizon ({list(self.horizons)} {self.horizon_unit}) is behind step {observation.step}"]
        unit = "" if self.horizon_unit == "steps" else f" (horizons in tokens at {observation.tokens / observation.step:.4g} tokens per step)"
        return ahead[-1], [f"the run has no planned end: forecasting at the furthest horizon ahead, step {ahead[-1]}{unit}"]

    def _lr_knots(self, trainer, target: int, notes: List[str]):
        """The planned learning rate as (steps, lr) knots covering 0..target, simulated when
        not yet known that far; None (constant) when it cannot be had."""
        self._ensure_schedule(trainer, target)
        schedule = self._schedule
        if schedule.get("note"):
            notes.append(schedule["note"])
        if schedule["steps"].size == 0:
            return None
        return schedule["steps"], schedule["lr"]

    def _ensure_schedule(self, trainer, end: int) -> None:
        """Simulate the learning rate from the current step to `end` on copies of the optimizer
        and schedulers (`schedule.simulate_lr_schedule`), joined to the part before the current
        step already known (a resumed run's checkpoint), and keep it as knots. Once per fit
        unless the target moves past what is known (horizons, a longer resumed run). Never
        raises: a schedule that cannot be read is assumed constant, with a warning."""
        if self._schedule is not None and self._schedule["end"] >= end:
            return
        try:
            self._simulate_schedule(trainer, end)
        except Exception as exc:  # noqa: BLE001 - a schedule we cannot read is an assumption, not a crash
            note = f"the learning-rate schedule could not be simulated ({type(exc).__name__}: {exc}); assumed constant"
            self._schedule = {"steps": np.zeros(0, np.int64), "lr": np.zeros(0), "end": int(end),
                              "source": "none", "note": note}
            self._warn_once(trainer, "schedule", f"{type(self).__qualname__}: {note}")

    def _simulate_schedule(self, trainer, end: int) -> None:
        start = 0 if self.lr_schedule is not None else int(trainer.global_step)
        past_steps, past_lr = (schedule_before(self._schedule["steps"], self._schedule["lr"], start)
                               if self._schedule is not None else (np.zeros(0, np.int64), np.zeros(0)))
        notes = []
        optimizers = list(getattr(trainer, "optimizers", None) or [])
        if self.lr_schedule is None and not optimizers:
            raise ValueError("the trainer has no optimizer to read a learning rate from")
        per_epoch = trainer.num_training_batches
        steps_per_epoch = (-(-int(per_epoch) // int(trainer.accumulate_grad_batches))
                           if math.isfinite(per_epoch) and per_epoch > 0 else None)
        sim = simulate_lr_schedule(optimizers[0] if optimizers else None, trainer.lr_scheduler_configs, end,
                                   current_step=start, steps_per_epoch=steps_per_epoch, lr_schedule=self.lr_schedule)
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
            self._warn_once(trainer, "schedule", f"{type(self).__qualname__}: {note}")

    def _write_tensorboard(self, trainer, assessment) -> None:
        """Rank zero, every TensorBoardLogger: the layout (once per writer), the advice text and,
        every `figure_every` forecasts, the figure. A failure here is a warning."""
        writers = tensorboard_writers(trainer)
        if not writers:
            return
        step = assessment.record.step
        n_ok = sum(1 for r in self.forecasts if r.ok) + int(assessment.record.ok)  # this one not appended yet
        draw = (assessment.record.ok and self.figure_every > 0 and (n_ok - 1) % self.figure_every == 0
                and importlib.util.find_spec("matplotlib") is not None)
        try:
            figure = forecast_figure_of(self.history, assessment, monitor=self.monitor) if draw else None
            for writer in writers:
                write_forecast_layout(writer, self.monitor)
                write_advice_text(writer, assessment.markdown, step)
                if figure is not None:
                    write_figure(writer, figure, step)
        except Exception as exc:  # noqa: BLE001
            self._warn_once(trainer, "tensorboard", f"{type(self).__qualname__}: writing the forecast to TensorBoard "
                            f"failed at step {step} ({type(exc).__name__}: {exc}); the scalars are still logged")

    def _note(self, trainer, key: str, message: str) -> None:
        self._warn_once(trainer, key, f"{type(self).__qualname__}: {message}")

    def _read_tokens(self) -> int:
        """Training tokens D so far, summed over ranks (a collective under DDP)."""
        strategy = self._strategy
        if strategy is None:
            return self._tokens_restored + self._counter.read()
        local = self._counter.read(lambda t: strategy.reduce(t, reduce_op="sum"), strategy.root_device)
        return self._tokens_restored + local

    def _observe(self, trainer) -> Observation:
        tokens = self._read_tokens()
        flops = training_flops(self.n_params, tokens, self.n_layer, self.n_ctx, self.d_attn)
        val_loss = self._metric(trainer, self.monitor, warn=True)
        train_loss = self._metric(trainer, self.train_monitor, warn=False) if self.train_monitor else math.nan
        return Observation(step=int(trainer.global_step), tokens=tokens, flops=flops,
                           val_loss=val_loss, train_loss=train_loss)

    def _scale_metrics(self, trainer, observation: Observation) -> Dict[str, float]:
        metrics = {
            tags.PARAMS_BY_CONVENTION[self.convention]: float(self.n_params),
            tags.TOKENS: float(observation.tokens),
            tags.FLOPS: observation.flops,
            tags.PF_DAYS: pf_days(observation.flops),
            tags.TOKENS_PER_PARAM: tokens_per_param(observation.tokens, self.n_params),
        }
        epochs = self._epochs(trainer, observation.tokens)
        if epochs is not None:
            metrics[tags.EPOCHS] = epochs
        return metrics

    def _epochs(self, trainer, tokens: int) -> Optional[float]:
        if self.tokens_per_epoch is not None:
            return epochs_seen(tokens, self.tokens_per_epoch)
        per_epoch = trainer.num_training_batches
        if math.isfinite(per_epoch) and per_epoch > 0:
            return self._train_batches / per_epoch
        self._warn_once(trainer, "epochs", f"{type(self).__qualname__}: the training dataloader has no "
                        f"length, so {tags.EPOCHS} is not logged; pass tokens_per_epoch= (unique tokens per epoch)")
        return None

    def _metric(self, trainer, key: str, warn: bool) -> float:
        value = trainer.callback_metrics.get(key)
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
        if warn:
            found = "is not logged" if value is None else f"is not one number ({value!r})"
            self._warn_once(trainer, f"metric:{key}", f"{type(self).__qualname__}: the monitored metric {key!r} "
                            f"{found}; available: {sorted(trainer.callback_metrics)}. Its history records NaN. "
                            f"Log it with self.log({key!r}, ...) in validation_step or pass monitor=.")
        return math.nan

    def _log_metrics(self, trainer, metrics: Dict[str, float]) -> None:
        """Every logger of the trainer, at its global step (self.log is refused in on_validation_end)."""
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def _warn_once(self, trainer, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        if trainer.is_global_zero:
            warnings.warn(message, UserWarning, stacklevel=2)
