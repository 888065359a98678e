"""`PlannedSchedule`: the learning rate a run is planned to follow up to its end, as the linear
knots the forecast reads, with where it came from; and `plan_schedule`, which simulates it.

A tracker keeps one, simulated once at the start (on copies of the optimizer and schedulers,
`schedule.simulate_lr_schedule`) and again only when a later target lies further. It travels
in two forms, both unchanged from earlier versions:
- in a checkpoint: `state_dict()`, {"steps", "lr", "end", "source", "note"} (read back, every
  value checked, by state.py);
- beside the TensorBoard events: `write()` / `read()`, the file `scaling_schedule.json` that
  `scaling-callback forecast LOGDIR` reads (its format is `io.write_schedule_file`'s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from ..core.planning import compress_schedule, schedule_before
from ..io import read_schedule_file, write_schedule_file
from .schedule import simulate_lr_schedule

STATE_KEYS = ("steps", "lr", "end", "source", "note")  # the keys of `state_dict()`
UNREADABLE = "none"  # `source` of a schedule that could not be read (a constant rate is assumed)


@dataclass(frozen=True, eq=False)
class PlannedSchedule:
    """The planned learning rate from step 0 to `end` as knots, linear in between.

    Fields: `steps` (int64 knot steps, increasing; empty when the schedule is not known and a
    constant rate is assumed), `lr` (the rate at each knot), `end` (the step it was simulated up
    to: the planned end, or the furthest horizon), `source` ("lr_schedule", the simulated
    scheduler classes joined by "+", "constant", or "none" when it could not be read), `note`
    (what was assumed and why, in words; None when nothing was). The arrays are read-only.
    """

    steps: np.ndarray
    lr: np.ndarray
    end: int
    source: str
    note: Optional[str] = None

    def __post_init__(self):
        steps, lr = np.array(self.steps, dtype=np.int64), np.array(self.lr, dtype=float)
        if steps.shape != lr.shape or steps.ndim != 1:
            raise ValueError(f"a planned schedule needs steps and lr of one length, got {steps.shape} and {lr.shape}")
        for array in (steps, lr):
            array.setflags(write=False)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "lr", lr)
        object.__setattr__(self, "end", int(self.end))

    @classmethod
    def unreadable(cls, end: int, note: str) -> "PlannedSchedule":
        """No knots (a constant rate is assumed), saying why in `note`."""
        return cls(np.zeros(0, np.int64), np.zeros(0), end, UNREADABLE, note)

    @property
    def known(self) -> bool:
        """Whether it has knots (else the forecast assumes a constant rate)."""
        return self.steps.size > 0

    def knots(self) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(steps, lr) as the forecast takes them (`core.assess`'s `lr`), None when not known."""
        return (self.steps, self.lr) if self.known else None

    def before(self, step: int) -> Tuple[np.ndarray, np.ndarray]:
        """The knots strictly before `step`: its past, to join with a schedule simulated from there."""
        return schedule_before(self.steps, self.lr, step)

    # ---- in a checkpoint -----------------------------------------------------------------
    def state_dict(self) -> dict:
        """Plain values: {"steps": [int], "lr": [float], "end", "source", "note"}."""
        return {"steps": self.steps.tolist(), "lr": self.lr.tolist(), "end": self.end, "source": self.source,
                "note": self.note}

    # ---- beside the TensorBoard events ---------------------------------------------------
    def write(self, log_dir: str, monitor: str, planned_end: Optional[int] = None) -> str:
        """Write `scaling_schedule.json` in `log_dir` for `scaling-callback forecast LOGDIR`: the
        knots, `planned_end` (default `end`), the source and the monitored metric. Its path."""
        return write_schedule_file(log_dir, steps=self.steps.tolist(), lr=self.lr.tolist(),
                                   planned_end=self.end if planned_end is None else planned_end,
                                   source=self.source, monitor=monitor)

    @classmethod
    def read(cls, log_dir: str) -> Optional["PlannedSchedule"]:
        """The schedule `write` saved in `log_dir` (its `end` the planned end; no note), None when
        there is none; ValueError when the file is not one this package wrote."""
        body = read_schedule_file(log_dir)
        if body is None:
            return None
        return cls(body["steps"], body["lr"], body["planned_end"], body["source"])


def plan_schedule(end: int, optimizer, schedulers, *, current_step: int, steps_per_epoch: Optional[int],
                  lr_schedule, known: Optional[PlannedSchedule]) -> Tuple[PlannedSchedule, Optional[str]]:
    """The planned schedule to `end`: simulated from `current_step` on copies of `optimizer` (or
    of the first of a list of them) and of `schedulers` (or from step 0 with `lr_schedule`), joined to the knots of
    `known` before that step (a resumed run's past). Returns it and the warning to give (None
    when nothing needs one). Raises when there is nothing to read a rate from, or the
    simulation fails."""
    start = 0 if lr_schedule is not None else current_step
    optimizers = list(optimizer) if isinstance(optimizer, (list, tuple)) else [optimizer] if optimizer else []
    past_steps, past_lr = known.before(start) if known is not None else (np.zeros(0, np.int64), np.zeros(0))
    if lr_schedule is None and not optimizers and not schedulers:
        raise ValueError("there is no optimizer to read a learning rate from")
    sim = simulate_lr_schedule(optimizers[0] if optimizers else None, schedulers, end, current_step=start,
                               steps_per_epoch=steps_per_epoch, lr_schedule=lr_schedule)
    notes = [sim.note] if sim.note else []
    if len(optimizers) > 1:
        notes.append(f"the forecast follows the learning rate of the first of {len(optimizers)} optimizers")
    if start > 0 and past_steps.size == 0:
        notes.append(f"the learning rate before step {start} is not known (no schedule in the checkpoint): "
                     f"assumed {sim.lr[0]:g} as at step {start}")
    if sim.source == "constant" and not sim.note:
        notes.append(f"no learning-rate scheduler: constant learning rate {sim.lr[0]:g}")
    knot_steps, knot_lr = compress_schedule(sim.steps, sim.lr)
    note = "; ".join(notes) or None
    schedule = PlannedSchedule(np.concatenate([past_steps, knot_steps]), np.concatenate([past_lr, knot_lr]),
                               end, sim.source, note)
    return schedule, note if sim.note or len(optimizers) > 1 else None
