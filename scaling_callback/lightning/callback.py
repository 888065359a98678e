"""The Lightning adapter of `ScalingTracker`: it feeds the tracker from the Trainer's hooks and
logs what it returns through every logger of the Trainer.

It implements the Lightning hooks against a duck-typed trainer and imports no Lightning
namespace; `namespaces.py` puts it over each namespace's `Callback` base class. Per training
micro-batch it counts (no host-device sync); at each validation end (outside the sanity check)
every rank observes (the token count is summed over ranks), global rank zero forecasts and
advises, and the forecast's record is broadcast to the other ranks so that a
`ForecastEarlyStopping` decides the same everywhere.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional

import torch

from ..core import tags
from ..core.history import ForecastHistory, ForecastRecord, History
from ..core.planning import planned_end_step
from ..tracking.adapter import adapter_tracker
from ..tracking.settings import TrackerSettings, with_settings_signature
from ..tracking.sharded import rank_counts_tokens, strategy_device_mesh
from .resume import run_missed_validation, validation_due
from .report import TerminalReport, logger_dirs, tensorboard_loggers, tensorboard_writers

VALIDATION_DUE_KEY = "validation_due_at"  # in the saved state: the step of a validation still to run


class ScalingLawCore:
    """Logs a language-model run's scale (N, D, C = 6·N·D) at every validation end.

    Tags, logged through every logger of the Trainer at `trainer.global_step`:
    scaling/params_non_embedding (scaling/params_total with convention="total"), scaling/tokens,
    scaling/compute_flops, scaling/compute_pf_days, scaling/tokens_per_param, scaling/epochs.

    Args:
        monitor: validation metric recorded in the history (one warning when it is missing).
        train_monitor: training-loss metric recorded beside it when logged (None: not recorded).
        settings: a `tracking.settings.TrackerSettings` with the settings below (defaults and
            checks written once there, shared with the HF callback and `ScalingTracker`); each
            keyword given overrides its value.
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
        figure_every: draw the forecast figure into TensorBoard at the first forecast, every this
            many forecasts after, at the planned end and at train end (0: never).
        whatif_every: forecast "cool down now" (whatif/* tags, docs/whatif.md) at the first
            validation with the rate at its peak and every this many after (0: never).
        progress_bar: show the latest forecast, "forecast=2.43 [2.40, 2.46]", in the Trainer's
            progress bar (without a bar: one line per validation in the terminal).
        fit: a cross-run law of this run's family (`ScalingLawFit` or the path of a fit saved by
            `scaling-callback fit --save`): the loss it expects for this run's N and planned D is
            logged beside each forecast (trend/expected_loss, _low, _high, trend/gap,
            trend/off_trend), with a warning when the run is off its family's trend.
        family: finished runs of this run's recipe (a `Family`, paths of curve CSVs or of log dirs
            written by this callback, e.g. the parent folder of earlier runs' version folders, or
            `FamilyRun`s): read at the first forecast, it shifts each forecast and calibrates its
            interval by how the forecast erred on those runs (forecast/family_runs: how many
            informed it; the Text tab says so too). The run's own log dir is left out.

    Every training micro-batch is counted (gradient accumulation included), on every rank; the
    count stays on the device and is summed over ranks only when read (validation end, checkpoint).

    Forecast tags (logged by global rank zero; see docs/callback.md): forecast/final_loss,
    forecast/final_loss_low, forecast/final_loss_high, forecast/asymptotic_loss,
    forecast/exponent, forecast/final_step, forecast/fitted_loss, forecast/ok,
    forecast/points_used, forecast/points_skipped, forecast/fit_seconds, advice/recommended_stop_step,
    advice/overfitting, advice/tokens_to_data_limit, advice/repeated_data,
    advice/effective_data_fraction (and, when they apply, advice/recommended_decay_start_step,
    advice/overfitting_since_step, advice/kaplan_efficient_step, forecast/loss_at_step_<h>,
    forecast/family_runs).
    Throughput tags (every logger; of several ScalingLawCallbacks in one Trainer, the first writes
    them): throughput/tokens_per_second, throughput/flops_per_second,
    throughput/seconds_to_planned_end. With a TensorBoardLogger: a custom-scalars layout, the
    advice as state in the Text tab, the figure, and the planned schedule beside the events
    (`scaling_schedule.json`, read by `scaling-callback forecast LOGDIR`). In the terminal: a
    line when an advice condition starts or ends, and a summary at train end.
    Attributes: `forecasts` (ForecastHistory of every validation's ForecastRecord, on every
    rank, kept in checkpoints), `assessment` (the latest `Assessment`, rank zero only),
    `planned_end` (the target step of the run, None when it has no end). `add_listener(fn)`:
    fn(record) is called with every forecast's record on every rank (how `ForecastEarlyStopping`
    follows it).
    A fit that fails is a warning with the reason, never an exception in the training loop.
    The work is done by a `ScalingTracker` (`tracker`); this class feeds it from the Trainer.
    """

    @with_settings_signature
    def __init__(self, monitor: str = "val_loss", train_monitor: Optional[str] = "train_loss", *,
                 progress_bar: bool = True, settings: Optional[TrackerSettings] = None, **overrides):
        self.tracker = adapter_tracker(self, monitor, train_monitor, settings, overrides)
        self.monitor = monitor
        self.train_monitor = train_monitor
        self._ckpt_path: Optional[str] = None  # the checkpoint being resumed from, for error messages
        self._missed_validation: Optional[int] = None  # the step of a validation the resume must run
        self.terminal = TerminalReport(progress_bar)

    # the settings and results users read, kept by the tracker
    forecasting = property(lambda self: self.tracker.forecasting)
    convention = property(lambda self: self.tracker.convention)
    non_embedding_params = property(lambda self: self.tracker.non_embedding_params)
    n_params = property(lambda self: self.tracker.n_params)
    tokens_per_epoch = property(lambda self: self.tracker.tokens_per_epoch)
    horizons = property(lambda self: self.tracker.horizons)
    lr_schedule = property(lambda self: self.tracker.lr_schedule)
    confidence = property(lambda self: self.tracker.confidence)
    min_delta = property(lambda self: self.tracker.min_delta)
    planned_end = property(lambda self: self.tracker.planned_steps)

    def add_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Call `listener(record)` with the `ForecastRecord` of every forecast, on every rank,
        after the callback has logged it (`ScalingTracker.add_listener`; a `ForecastEarlyStopping`
        is one)."""
        self.tracker.add_listener(listener)

    def remove_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Stop calling `listener` (`ScalingTracker.remove_listener`)."""
        self.tracker.remove_listener(listener)

    @property
    def history(self) -> History:
        return self.tracker.history

    @property
    def forecasts(self) -> ForecastHistory:
        return self.tracker.forecasts

    @property
    def assessment(self):
        return self.tracker.assessment

    # ---- Lightning hooks -----------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Distinct for instances with different settings, stable across processes and resumes."""
        t = self.tracker
        settings = dict(monitor=self.monitor, convention=t.convention, non_embedding_params=t.non_embedding_params,
                        n_layer=t.n_layer, n_ctx=t.n_ctx, d_attn=t.d_attn)
        return f"{type(self).__qualname__}{settings!r}"

    def setup(self, trainer, pl_module, stage) -> None:
        self.tracker.is_rank_zero = bool(trainer.is_global_zero)  # before a checkpoint's state is loaded
        self.tracker.tag_suffix = self._tag_suffix(trainer)
        # the throughput is the run's, as its scale is: written by the first ScalingLawCallback only
        self.tracker.logs_throughput = next(cb for cb in trainer.callbacks if isinstance(cb, ScalingLawCore)) is self

    def _tag_suffix(self, trainer) -> Optional[str]:
        """None when this is the Trainer's only ScalingLawCallback; else its monitor (with its
        position among them when monitors repeat), so that each writes its own forecast/ and
        advice/ tags (`tags.for_instance`)."""
        mine = [cb for cb in trainer.callbacks if isinstance(cb, ScalingLawCore)]
        if len(mine) < 2:
            return None
        monitors = [cb.monitor for cb in mine]
        if monitors.count(self.monitor) == 1:
            return self.monitor
        return f"{self.monitor}_{next(i for i, cb in enumerate(mine) if cb is self)}"

    def on_fit_start(self, trainer, pl_module) -> None:
        strategy = trainer.strategy
        # under tensor parallelism the ranks of one model replica saw the same batches: one of them counts
        share = (lambda t: t) if rank_counts_tokens(strategy_device_mesh(strategy)) else torch.zeros_like
        self.tracker.sum_over_ranks = lambda t: strategy.reduce(share(t), reduce_op="sum")
        self.tracker.reduce_device = strategy.root_device
        # the strategy's wrapper (FSDP1, DDP, DeepSpeed) holds what a sharded LightningModule lacks: the FSDP1
        # flat parameters' metadata sits on the wrapper, above the LightningModule
        wrapped = getattr(strategy, "model", None)
        self.tracker.set_model(wrapped if isinstance(wrapped, torch.nn.Module) else pl_module)
        if trainer.is_global_zero:  # the run's own log dirs: never its own family run (family=)
            self.tracker.log_dirs = logger_dirs(trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.tracker.count(batch)

    def on_train_start(self, trainer, pl_module) -> None:
        """The planned end and its learning-rate schedule: the dataloaders are set up and a
        resumed run's loops, optimizers and schedulers restored by now."""
        self.tracker.training_started(int(trainer.global_step))
        self.terminal.train_started(trainer)
        self._plan_forecast(trainer)
        self._catch_up_validation(trainer)

    def _catch_up_validation(self, trainer) -> None:
        """Resumed from a checkpoint written just before a validation: run it now (resume.py)."""
        due, self._missed_validation = self._missed_validation, None
        history = self.tracker.history
        if due is None or due != trainer.global_step or (len(history) and history[-1].step >= due):
            return
        if not run_missed_validation(trainer):
            self.tracker.warn_once("resume-validation", f"the checkpoint was written before the validation at step "
                                   f"{due}, which Lightning does not run on resume; its history lacks it")

    def _plan_forecast(self, trainer) -> None:
        if not self.forecasting:
            return
        per_epoch = trainer.num_training_batches
        steps_per_epoch = (-(-int(per_epoch) // int(trainer.accumulate_grad_batches))
                           if math.isfinite(per_epoch) and per_epoch > 0 else None)
        self.tracker.set_schedule_source(list(getattr(trainer, "optimizers", None) or []),
                                         trainer.lr_scheduler_configs, steps_per_epoch)
        end = planned_end_step(trainer.max_steps, trainer.max_epochs, per_epoch, trainer.accumulate_grad_batches)
        self.tracker.planned_steps = end
        if end is not None:
            if self.horizons is not None:
                self.tracker.warn_once("horizons", f"horizons={list(self.horizons)} are ignored: the run has a "
                                       f"planned end at step {end}")
            if trainer.is_global_zero:
                self.tracker.simulate_schedule(end, current_step=int(trainer.global_step))
                for logger in tensorboard_loggers(trainer):
                    self.tracker.save_schedule(logger.log_dir)
        elif self.horizons is None:
            self.tracker.warn_once("no-end", f"the run has no planned end (max_steps={trainer.max_steps}, "
                                   f"max_epochs={trainer.max_epochs}, {per_epoch} batches per epoch), so there is "
                                   "nothing to forecast; pass horizons=[steps, ...] (or horizon_unit='tokens') to "
                                   "forecast at given points")

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.tracker.evaluation_started()

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.tracker.finish(tensorboard_writers(trainer))
        self.terminal.train_ended(trainer, self.tracker)
        self.tracker.warn_if_no_forecast()

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or getattr(trainer.state, "fn", None) != "fit":
            return
        val_loss = self._metric(trainer, self.monitor, warn=True)
        train_loss = self._metric(trainer, self.train_monitor, warn=False) if self.train_monitor else None
        report = self.tracker.observe(int(trainer.global_step), val_loss,
                                      math.nan if train_loss is None else train_loss,
                                      epochs=self._epochs(trainer), forecast=bool(trainer.is_global_zero),
                                      publish=False)
        for logger in trainer.loggers:  # self.log is refused in on_validation_end
            logger.log_metrics({tags.for_instance(tag, self.tracker.tag_suffix): value
                                for tag, value in report.metrics.items()}, step=trainer.global_step)
        if report.assessment is not None and trainer.is_global_zero:
            self.tracker.write_tensorboard(tensorboard_writers(trainer), report.assessment)
            self.terminal.forecast_made(report.record, report.advice, report.observation.val_loss)
        if not self.forecasting:
            return
        record = report.record
        if trainer.world_size > 1:  # every rank takes part: the gate decides on the same record everywhere
            record = trainer.strategy.broadcast(record, src=0)
            if not trainer.is_global_zero:
                self.tracker.record_forecast(record)
        self.tracker.publish_forecast(record)

    def state_dict(self) -> Dict[str, object]:
        """Plain numbers. Under DDP every rank must call it together (it sums the token count)."""
        return self.tracker.state_dict()

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        """Restore the tracker; a state with a key missing or wrong raises ValueError naming the
        checkpoint (when Lightning said which) and the key."""
        try:
            self.tracker.load_state_dict(state_dict)
        except ValueError as exc:
            where = f"checkpoint {self._ckpt_path}" if self._ckpt_path else "the checkpoint"
            raise ValueError(f"{where}, state {self.state_key!r}: {exc}") from None
        due = state_dict.get(VALIDATION_DUE_KEY)
        self._missed_validation = due if isinstance(due, int) and not isinstance(due, bool) else None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        # written in on_train_batch_end before a due validation (ModelCheckpoint every_n_train_steps):
        # note it, so that a resume runs that validation (lightning/resume.py)
        state = (checkpoint.get("callbacks") or {}).get(self.state_key)
        if isinstance(state, dict):
            state[VALIDATION_DUE_KEY] = int(trainer.global_step) if validation_due(trainer) else None

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        self._ckpt_path = getattr(trainer, "ckpt_path", None)  # Lightning calls this before load_state_dict
        states = checkpoint.get("callbacks") or {}
        if self.state_key in states:
            return
        prefix = type(self).__qualname__
        others = [key for key in states if isinstance(key, str) and key.startswith(prefix)]
        why = (f"it holds {others}, saved with other settings" if others
               else "it holds no state of this callback")
        self.tracker.warn_once("resume", f"the checkpoint has no state under {self.state_key!r} ({why}); the "
                               "token count and history restart from zero. Resume with the settings the run was "
                               "started with to continue its counts.")

    # ---- reading the Trainer -------------------------------------------------------------
    def _epochs(self, trainer) -> Optional[float]:
        """Passes over the training dataloader (the tracker uses tokens_per_epoch when given)."""
        if self.tokens_per_epoch is not None:
            return None
        per_epoch = trainer.num_training_batches
        if math.isfinite(per_epoch) and per_epoch > 0:
            return self.tracker.train_batches / per_epoch
        self.tracker.warn_once("epochs", f"the training dataloader has no length, so {tags.EPOCHS} is not logged; "
                               "pass tokens_per_epoch= (unique tokens per epoch)")
        return None

    def _metric(self, trainer, key: str, warn: bool) -> Optional[float]:
        """The metric's value; None when it is not logged (or not one number)."""
        value = trainer.callback_metrics.get(key)
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
        if warn:
            found = "is not logged" if value is None else f"is not one number ({value!r})"
            self.tracker.warn_once(f"metric:{key}", f"the monitored metric {key!r} {found}; available: "
                                   f"{sorted(trainer.callback_metrics)}. Its history records NaN. "
                                   f"Log it with self.log({key!r}, ...) in validation_step or pass monitor=.")
        return None
