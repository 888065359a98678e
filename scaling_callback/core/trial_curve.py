"""A trial's validation curve with its plan: what a hyperparameter search keeps of each trial, and
what a study's finished trials give the forecaster as the run's family (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .checks import increasing_curve, whole_number


@dataclass(frozen=True, eq=False)
class TrialCurve:
    """One trial's curve: `steps` (increasing) and `losses` (finite) reported so far, its
    `planned_end` step, its planned learning rate `lr` as (knot steps, rates) or None (not
    known: a constant rate is assumed), and `run_id` (the trial's name in its study)."""

    run_id: str
    steps: np.ndarray
    losses: np.ndarray
    planned_end: int
    lr: Optional[Tuple[np.ndarray, np.ndarray]] = None

    def __post_init__(self):
        steps, losses, _ = increasing_curve(f"trial {self.run_id}", self.steps, self.losses, drop_nonfinite=True)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "planned_end", whole_number(self.planned_end, f"trial {self.run_id}'s planned end",
                                                             minimum=1))
        if self.lr is not None:
            knots, rates = (np.asarray(a, float).ravel() for a in self.lr)
            if knots.shape != rates.shape or knots.size == 0:
                raise ValueError(f"trial {self.run_id}: the learning-rate knots need steps and rates of one "
                                 f"length, got {knots.size} and {rates.size}")
            object.__setattr__(self, "lr", (knots, rates))

    @property
    def last_step(self) -> Optional[int]:
        return int(self.steps[-1]) if self.steps.size else None
