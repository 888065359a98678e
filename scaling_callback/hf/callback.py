"""`ScalingLawTrainerCallback`: the scaling tracker in a transformers `Trainer` (a thin adapter
over `tracking.ScalingTracker`, as the Lightning callback is).

- train begin: N of the Trainer's (wrapped) model, the planned end `state.max_steps` (the
  Trainer's own count from max_steps or epochs, gradient accumulation included), the learning
  rate of every step to it simulated on copies of the Trainer's optimizer and scheduler
  (`lr_scheduler_type`, warm-up), a forward pre-hook on the model that counts each training
  micro-batch's inputs (hf/tokens.py), and the sum over processes when there are several;
- every log: the latest training loss (`loss`), for the overfitting check;
- every evaluation (whose time is kept out of the throughput): `eval_loss` recorded at `state.global_step`, the forecast and advice on
  the main process (its record sent to the others), everything reported through the Trainer's
  integrations (`report_to`), TensorBoard under the exact tags with the layout, advice text and
  figure; a ForecastEarlyStoppingCallback is then told.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import transformers

from ..tracking.sharded import data_parallel_sum
from ..core.history import ForecastRecord
from ..tracking.adapter import adapter_tracker
from ..tracking.settings import TrackerSettings, with_settings_signature
from .resume import keep_state, resume_tracker, state_key
from .tokens import TrainingInputsHook
from .trainer_access import broadcast_object, find_trainer, is_distributed, optional_trainer, report, tensorboard_writers


def tensorboard_name(metric: str) -> str:
    """The tag HF's TensorBoardCallback writes `metric` of an evaluation under (its rewrite_logs:
    "eval_loss" -> "eval/loss")."""
    return "eval/" + metric[len("eval_"):] if metric.startswith("eval_") else metric


class ScalingLawTrainerCallback(transformers.TrainerCallback):
    """Logs a language-model run's scale (N, D, C = 6·N·D) at every evaluation of a
    `transformers.Trainer`, forecasts the final `eval_loss` with an interval, and advises.

        trainer = Trainer(model, args, train_dataset=..., eval_dataset=...,
                          callbacks=[ScalingLawTrainerCallback(), ForecastEarlyStoppingCallback()])

    The tags are the Lightning callback's (core/tags.py): through every `report_to`
    integration's on_log (W&B, MLflow, ... name them as they name every log) and into the
    Trainer's TensorBoard event file under the exact names (HF's TensorBoardCallback would
    prefix "train/"), with the custom-scalars layout, the advice text and the figure.

    Args:
        monitor: the evaluation metric forecast (default "eval_loss").
        train_monitor: the training-loss key of the Trainer's logs (default "loss"), recorded at
            each evaluation for the overfitting check; None: not recorded.
        trainer: the Trainer, when it cannot be found from the calling frames at train begin.
        tokens_in_batch: fn(inputs) -> int or integer tensor, the tokens of one micro-batch's
            model inputs (a dict); default: attention_mask.sum(), else input_ids.numel().
        settings: a `tracking.settings.TrackerSettings`; each keyword given overrides its value.
        the others: the settings of `TrackerSettings` and `ScalingTracker` (non_embedding_params,
            convention, n_layer, n_ctx, d_attn, tokens_per_epoch, forecast, horizons,
            horizon_unit, lr_schedule, confidence, min_delta, figure_every, whatif_every, fit, family).
            `family`: finished runs of this recipe (paths of log dirs the Trainer wrote with this
            callback, of curve CSVs, a `Family` or `FamilyRun`s); their loss is read from HF's
            TensorBoard name of `monitor` (eval_loss: eval/loss); the run's own log dir (its
            TensorBoard writer's, and `args.logging_dir` where transformers has it) is left out.

    Attributes: `tracker` (the ScalingTracker: history, forecasts, assessment, n_params,
    planned_steps). `add_listener(fn)`: fn(record) is called with every forecast's record on
    every process (how `ForecastEarlyStoppingCallback` follows it). The tracker's state (token
    count, history, forecasts, schedule, advice) is kept in every checkpoint the Trainer writes
    (its trainer_state.json), and `trainer.train(resume_from_checkpoint=...)` continues it
    (hf/resume.py); a checkpoint without it is a warning that the counts restart from zero.
    A Trainer that never evaluates (eval_strategy="no") is one warning at train begin.
    """

    _scaling_callback = True  # not called back by the reports it sends through the Trainer

    @with_settings_signature
    def __init__(self, monitor: str = "eval_loss", train_monitor: Optional[str] = "loss", *, trainer=None,
                 settings: Optional[TrackerSettings] = None, **overrides):
        self.tracker = adapter_tracker(self, monitor, train_monitor, settings, overrides)
        self.tracker.family_tag = tensorboard_name(monitor)
        self.monitor, self.train_monitor = monitor, train_monitor
        self.trainer = optional_trainer(trainer)
        self._train_loss = math.nan
        self._evaluating = False
        self._training = False
        self._inputs_hook: Optional[TrainingInputsHook] = None

    # ---- the Trainer's hooks ---------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, optimizer=None, lr_scheduler=None, **kwargs):
        if state.global_step == 0 and len(self.tracker.history):  # the Trainer trains again: a new run
            self.tracker = self.tracker.fresh()  # (hyperparameter_search: one a trial)
        tracker = self.tracker
        tracker.is_rank_zero = state.is_world_process_zero
        self.trainer = self.trainer or find_trainer(self)
        if self.trainer is None:
            tracker.warn_once("trainer", "the Trainer could not be found from the calling frames, so the tags reach "
                              "no report_to integration; pass ScalingLawTrainerCallback(trainer=trainer)")
        # the outermost wrapper (DDP, FSDP, DeepSpeed) holds what a sharded model lacks (FSDP1's flat parameters)
        wrapped = getattr(self.trainer, "model_wrapped", None)
        tracker.set_model(wrapped if wrapped is not None else model)
        if is_distributed():
            mesh = getattr(getattr(self.trainer, "accelerator", None), "torch_device_mesh", None)
            tracker.sum_over_ranks = data_parallel_sum(mesh)
            tracker.reduce_device = args.device
        if self._inputs_hook is None:
            self._inputs_hook = TrainingInputsHook(model, self._count_inputs)
        writers = tensorboard_writers(self.trainer) if state.is_world_process_zero else []
        tracker.writer = writers[0] if writers else None
        tracker.log_dirs = (args.logging_dir,) if getattr(args, "logging_dir", None) else ()
        self._warn_without_evaluations(args)
        if state.global_step > 0:  # resumed from a checkpoint: before the plan and the throughput clock
            resume_tracker(tracker, state, self._state_key)
        if tracker.forecasting:
            tracker.planned_steps = int(state.max_steps) if state.max_steps and state.max_steps > 0 else None
            tracker.set_schedule_source(optimizer, lr_scheduler)
            if tracker.planned_steps is None and tracker.horizons is None:
                tracker.warn_once("no-end", f"the run has no planned end (state.max_steps={state.max_steps}), so "
                                  "there is nothing to forecast; pass horizons=[steps, ...]")
            elif tracker.planned_steps is not None and state.is_world_process_zero:
                tracker.simulate_schedule(tracker.planned_steps, current_step=int(state.global_step))
                if tracker.writer is not None:  # for `scaling-callback forecast LOGDIR`
                    tracker.save_schedule(tracker.writer.get_logdir())
        tracker.training_started(int(state.global_step))
        self._evaluating = False
        self._training = True

    def _warn_without_evaluations(self, args) -> None:
        strategy = getattr(args, "eval_strategy", None)
        if str(getattr(strategy, "value", strategy)) == "no":
            self.tracker.warn_once("no-evaluation", "the Trainer never evaluates (eval_strategy='no', the "
                                   "TrainingArguments default), and this callback records the run at each "
                                   "evaluation: it will log and forecast nothing. Pass eval_strategy='steps' with "
                                   "eval_steps=... (or 'epoch') and an eval_dataset to the Trainer")

    @property
    def _state_key(self) -> str:
        """Where the tracker's state is kept in the Trainer's checkpoints (hf/resume.py)."""
        return state_key(type(self).__qualname__, self.monitor)

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save:  # a checkpoint follows this step (and its evaluation, which keeps it again)
            keep_state(self.tracker, state, self._state_key)

    def on_epoch_end(self, args, state, control, **kwargs):
        if control.should_save:
            keep_state(self.tracker, state, self._state_key)

    def _count_inputs(self, inputs) -> None:
        self.tracker.count(inputs)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.train_monitor and logs and self.train_monitor in logs:
            try:
                self._train_loss = float(logs[self.train_monitor])
            except (TypeError, ValueError):
                pass

    def on_prediction_step(self, args, state, control, **kwargs):
        if self._training and not self._evaluating:  # the first batch of an evaluation: its time is not training time
            self._evaluating = True
            self.tracker.evaluation_started()

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self._evaluating = False
        if not self._training:  # trainer.evaluate() outside training: not a point of the run's curve
            return
        tracker = self.tracker
        metrics = metrics or {}
        value = metrics.get(self.monitor)
        try:
            val_loss = float(value)
        except (TypeError, ValueError):
            val_loss = math.nan
            found = "is not in the evaluation's metrics" if value is None else f"is not one number ({value!r})"
            tracker.warn_once(f"metric:{self.monitor}", f"the monitored metric {self.monitor!r} {found}; available: "
                              f"{sorted(metrics)}. Its history records NaN; pass monitor=.")
        rank_zero = state.is_world_process_zero
        result = tracker.observe(int(state.global_step), val_loss, train_loss=self._train_loss,
                                 epochs=state.epoch, forecast=rank_zero, publish=False)
        if self.trainer is not None:
            report(self.trainer, self, args, state, control, result.metrics)
        if tracker.forecasting:
            self._share_forecast(result.record, state, control)
        if control.should_save:  # the checkpoint written after this evaluation holds it
            keep_state(tracker, state, self._state_key)

    def _share_forecast(self, record, state, control) -> None:
        """Every process decides on the main process's forecast: sent to all, then told to the
        listeners (a ForecastEarlyStoppingCallback)."""
        tracker = self.tracker
        if is_distributed():
            record = broadcast_object(record, src=0)
            if not state.is_world_process_zero:
                tracker.record_forecast(record)
        tracker.publish_forecast(record)
        if control.should_training_stop or state.global_step >= state.max_steps:
            tracker.finish()  # the latest forecast's figure, while the TensorBoardCallback's writer is open

    def on_train_end(self, args, state, control, **kwargs):
        self._training = False
        if self._inputs_hook is not None:
            self._inputs_hook.remove()
            self._inputs_hook = None
        writer = self.tracker.writer
        if writer is not None and getattr(writer, "all_writers", None) is not None:
            self.tracker.finish()  # a run ending between evaluations; HF's TensorBoardCallback may have closed it
        self.tracker.warn_if_no_forecast()

    # ---- for a script ------------------------------------------------------------------------
    def add_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Call `listener(record)` with the `ForecastRecord` of every forecast, on every process,
        after the callback has reported it (`ScalingTracker.add_listener`; a
        `ForecastEarlyStoppingCallback` is one)."""
        self.tracker.add_listener(listener)

    def remove_listener(self, listener: Callable[[ForecastRecord], None]) -> None:
        """Stop calling `listener` (`ScalingTracker.remove_listener`)."""
        self.tracker.remove_listener(listener)

    @property
    def history(self):
        return self.tracker.history

    @property
    def forecasts(self):
        return self.tracker.forecasts
