"""The learning-rate schedule of a whole planned run, simulated ahead without touching the real
optimizer or scheduler (torch only; no Lightning import).

The schedulers are deep-copied onto a throwaway "shadow" optimizer that has the real
optimizer's param-group hyper-parameters and one dummy parameter per group, and the copies are
stepped to the planned end the way a training loop would step them. The real optimizer, its
parameters and the real schedulers are never stepped, written or re-wrapped.
"""
from __future__ import annotations

import collections
import copy
import inspect
import warnings
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau


@dataclass(frozen=True)
class SchedulerStepping:
    """A scheduler and how often the training loop steps it.

    `interval="step"`: after every `frequency`-th optimizer step; `interval="epoch"`: at the end of
    every `frequency`-th epoch. Lightning's `LRSchedulerConfig` has the same three fields and can be
    passed to `simulate_lr_schedule` as is. (Lightning counts a step-interval `frequency` in
    batches of the current epoch; that equals counting optimizer steps when
    `accumulate_grad_batches` is 1 and the epoch length is a multiple of `frequency`, or when
    `frequency` is 1, the default.)
    """

    scheduler: Any
    interval: str = "step"
    frequency: int = 1


@dataclass(frozen=True)
class SimulatedSchedule:
    """Learning rate per optimizer step from `steps[0]` (the step the simulation started at) to
    the planned end.

    Indexing: `lr[k]` is the rate the optimizer uses for optimizer step `steps[k]`
    (0-based: step i is the one taken when the trainer's global step reads i, before it
    increments). The last entry, at `steps[-1]` = total_steps, is the rate after the planned
    end: no step of the run uses it, but it ends the decay (e.g. a cosine's final value).
    """

    steps: np.ndarray  # int64, current_step .. total_steps
    lr: np.ndarray  # float64, same length
    source: str  # what produced it: "lr_schedule", scheduler class names joined by "+", or "constant"
    note: Optional[str]  # what was assumed and why (unsupported scheduler, scheduler error), else None

    def lr_at(self, step):
        """The rate used at `step` (int or array); beyond either end, the end value."""
        idx = np.clip(np.asarray(step, dtype=np.int64) - self.steps[0], 0, self.steps.size - 1)
        out = self.lr[idx]
        return float(out) if np.ndim(out) == 0 else out


class _ShadowOptimizer(torch.optim.Optimizer):
    """Stands in for the real optimizer while copied schedulers step: the same param-group
    hyper-parameters (lr, initial_lr, momentum/betas, ...), one dummy parameter per group, and a
    step that does nothing. Optimizer.__init__ is skipped on purpose: it would validate and hook
    parameters the simulation never uses."""

    def __init__(self, real: torch.optim.Optimizer):  # noqa: super().__init__ skipped, see above
        self.defaults = copy.deepcopy(real.defaults)
        self.state = collections.defaultdict(dict)
        self.param_groups = []
        for group in real.param_groups:
            shadow_group = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            shadow_group["params"] = [torch.zeros(1)]
            self.param_groups.append(shadow_group)
        # LRScheduler.step warns unless the optimizer's step looks wrapped and called
        self._opt_called = True

    def step(self, closure=None):
        return None

    step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]


def _stepping(entry: Any) -> SchedulerStepping:
    """A bare scheduler, a SchedulerStepping, or anything with scheduler/interval/frequency
    (Lightning's LRSchedulerConfig)."""
    if isinstance(entry, SchedulerStepping):
        out = entry
    elif all(hasattr(entry, a) for a in ("scheduler", "interval", "frequency")):
        out = SchedulerStepping(entry.scheduler, entry.interval, entry.frequency)
    else:
        out = SchedulerStepping(entry)
    if out.interval not in ("step", "epoch"):
        raise ValueError(f"scheduler interval must be 'step' or 'epoch', got {out.interval!r}")
    if int(out.frequency) != out.frequency or out.frequency < 1:
        raise ValueError(f"scheduler frequency must be a positive integer, got {out.frequency!r}")
    return out


def _keep_shared(scheduler: Any, memo: dict) -> None:
    """Objects a scheduler copy may share with the real one instead of copying: the objects that
    bound-method lr lambdas belong to (often the LightningModule with the whole model)."""
    for fn in getattr(scheduler, "lr_lambdas", ()) or ():
        if inspect.ismethod(fn):
            memo[id(fn.__self__)] = fn.__self__
    for child in getattr(scheduler, "_schedulers", ()) or ():
        _keep_shared(child, memo)


def _clone_onto_shadow(optimizer: torch.optim.Optimizer, schedulers: List[Any]) -> Tuple[_ShadowOptimizer, List[Any]]:
    shadow = _ShadowOptimizer(optimizer)
    memo: dict = {id(optimizer): shadow}
    for group in optimizer.param_groups:  # never copy model tensors, whatever holds them
        for p in group["params"]:
            memo[id(p)] = p
    for s in schedulers:
        _keep_shared(s, memo)
    return shadow, copy.deepcopy(schedulers, memo)


def _constant(start: int, total: int, lr: float, note: Optional[str]) -> SimulatedSchedule:
    steps = np.arange(start, total + 1, dtype=np.int64)
    return SimulatedSchedule(steps, np.full(steps.size, float(lr)), "constant", note)


def simulate_lr_schedule(
    optimizer: Optional[torch.optim.Optimizer],
    schedulers: Sequence[Any] | Any = (),
    total_steps: int = 0,
    *,
    current_step: int = 0,
    steps_per_epoch: Optional[int] = None,
    lr_schedule: Optional[Callable[[int], float]] = None,
    param_group: int = 0,
) -> SimulatedSchedule:
    """The learning rate of `param_group` at every optimizer step from `current_step` to
    `total_steps`, simulated on copies; the real optimizer and schedulers are left untouched.

    Call it between optimizer steps with `current_step` = the number of optimizer steps done
    (Lightning's `trainer.global_step`): the current rate of the real optimizer is then the rate
    of step `current_step`. Each scheduler is stepped after optimizer step i when
    (i + 1) % frequency == 0 (interval "step") or when (i + 1) % (steps_per_epoch·frequency) == 0
    (interval "epoch", needs `steps_per_epoch` = optimizer steps per epoch), in the order given
    (step-interval ones first, as Lightning does).

    `optimizer` may be a LightningOptimizer wrapper; None takes the first scheduler's.
    `schedulers`: one scheduler or a sequence of schedulers, `SchedulerStepping`s or Lightning
    `LRSchedulerConfig`s; those belonging to another optimizer are ignored. Any
    `torch.optim.lr_scheduler.LRScheduler` is simulated (LambdaLR, MultiplicativeLR, StepLR,
    MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR, CosineAnnealingLR,
    CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR, SequentialLR, ChainedScheduler and
    subclasses). What cannot be known ahead is assumed constant at the current rate and said in
    `note`: ReduceLROnPlateau (it reacts to the validation metric), objects that are not
    LRSchedulers, epoch-interval schedulers without `steps_per_epoch`. A scheduler that raises
    while stepping (e.g. OneCycleLR past its total_steps) holds its last rate from there, noted.

    `lr_schedule`: an explicit `callable(step) -> lr`; when given it is the whole answer
    (optimizer and schedulers are not consulted). It must return finite non-negative numbers.

    Raises ValueError on bad arguments (negative or inverted step counts, unknown interval, a
    param group that does not exist, a callable returning a bad rate).
    """
    total_steps, current_step = int(total_steps), int(current_step)
    if current_step < 0 or total_steps < current_step:
        raise ValueError(f"need 0 <= current_step <= total_steps, got {current_step} and {total_steps}")
    if steps_per_epoch is not None and int(steps_per_epoch) < 1:
        raise ValueError(f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}")
    steps = np.arange(current_step, total_steps + 1, dtype=np.int64)

    if lr_schedule is not None:
        values = np.empty(steps.size)
        for k, step in enumerate(steps.tolist()):
            value = float(lr_schedule(step))
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"lr_schedule({step}) returned {value!r}; need a finite rate >= 0")
            values[k] = value
        return SimulatedSchedule(steps, values, "lr_schedule", None)

    single = hasattr(schedulers, "step") or hasattr(schedulers, "scheduler")
    entries = [_stepping(e) for e in ([schedulers] if single else list(schedulers))]
    if optimizer is None:
        if not entries:
            raise ValueError("give an optimizer, a scheduler or an lr_schedule")
        optimizer = entries[0].scheduler.optimizer
    # a wrapper (Lightning's LightningOptimizer, what `LightningModule.optimizers()` returns)
    # holds the optimizer the schedulers were built on
    optimizer = getattr(optimizer, "_optimizer", optimizer)
    if not 0 <= param_group < len(optimizer.param_groups):
        raise ValueError(f"param_group {param_group} does not exist ({len(optimizer.param_groups)} groups)")
    current_lr = float(optimizer.param_groups[param_group]["lr"])

    notes: List[str] = []
    runnable: List[Tuple[Any, int, str]] = []  # (scheduler, period in optimizer steps, interval)
    for e in entries:
        sched = e.scheduler
        name = type(sched).__name__
        if getattr(sched, "optimizer", None) is not optimizer:
            continue
        if isinstance(sched, ReduceLROnPlateau):
            notes.append(f"{name} lowers the learning rate in reaction to the monitored metric, which "
                         f"cannot be known ahead")
        elif not isinstance(sched, LRScheduler):
            notes.append(f"{name} is not a torch LRScheduler, so it cannot be simulated")
        elif e.interval == "epoch" and steps_per_epoch is None:
            notes.append(f"{name} steps per epoch but the number of optimizer steps per epoch is unknown")
        else:
            period = int(e.frequency) * (int(steps_per_epoch) if e.interval == "epoch" else 1)
            runnable.append((sched, period, e.interval))
    if notes:
        notes[-1] += f"; the forecast assumes its learning rate stays at the current {current_lr:g}"
    if not runnable:
        return _constant(current_step, total_steps, current_lr, "; ".join(notes) or None)

    runnable.sort(key=lambda r: r[2] == "epoch")  # stable: step-interval first, as Lightning
    shadow, copies = _clone_onto_shadow(optimizer, [r[0] for r in runnable])
    periods = [r[1] for r in runnable]
    group = shadow.param_groups[param_group]
    lrs = np.empty(steps.size)
    lrs[0] = float(group["lr"])
    failed = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the copies' warnings are not the user's business
        if len(copies) == 1 and periods[0] == 1:  # the common case, without the modulo test
            step_fn = copies[0].step
            for k in range(1, steps.size):
                try:
                    step_fn()
                except Exception as exc:  # noqa: BLE001 - any scheduler error means "hold"
                    failed = (k, copies[0], exc)
                    break
                lrs[k] = float(group["lr"])
        else:
            for k in range(1, steps.size):
                done = current_step + k  # optimizer steps completed before step `done`
                try:
                    for sched, period in zip(copies, periods):
                        if done % period == 0:
                            sched.step()
                except Exception as exc:  # noqa: BLE001
                    failed = (k, sched, exc)
                    break
                lrs[k] = float(group["lr"])
    if failed:
        k, sched, exc = failed
        lrs[k:] = lrs[k - 1]
        notes.append(f"{type(sched).__name__} raised at step {current_step + k} ({exc}); the learning "
                     f"rate is held at its last value {lrs[k - 1]:g} from there")
    source = "+".join(type(r[0]).__name__ for r in runnable)
    return SimulatedSchedule(steps, lrs, source, "; ".join(notes) or None)
