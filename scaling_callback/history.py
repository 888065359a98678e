"""A run's observations at each validation: the points later fitted and advised on (numpy only)."""
from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import Dict, Iterator, List, Sequence

import numpy as np


@dataclass(frozen=True)
class Observation:
    """The run's scale and losses at one validation end. A loss that was not available is NaN."""

    step: int  # optimizer steps (trainer.global_step)
    tokens: int  # training tokens D so far, all ranks
    flops: float  # training compute C so far
    val_loss: float  # the monitored validation metric
    train_loss: float  # the training loss last logged, NaN when none


FIELDS = tuple(f.name for f in fields(Observation))


class History:
    """Observations in the order they were made; saved into and restored from checkpoints as plain
    Python numbers."""

    def __init__(self, observations: Sequence[Observation] = ()):
        self._observations: List[Observation] = list(observations)

    def append(self, observation: Observation) -> None:
        self._observations.append(observation)

    def __len__(self) -> int:
        return len(self._observations)

    def __iter__(self) -> Iterator[Observation]:
        return iter(self._observations)

    def __getitem__(self, i: int) -> Observation:
        return self._observations[i]

    def column(self, name: str) -> np.ndarray:
        """One field of every observation as an array (step and tokens as int64, the rest float)."""
        if name not in FIELDS:
            raise KeyError(f"unknown field {name!r}; fields are {FIELDS}")
        dtype = np.int64 if name in ("step", "tokens") else float
        return np.array([getattr(o, name) for o in self._observations], dtype=dtype)

    def state_dict(self) -> Dict[str, list]:
        """{field: [values]} of plain ints and floats (NaN stays NaN)."""
        rows = [astuple(o) for o in self._observations]
        return {name: [row[i] for row in rows] for i, name in enumerate(FIELDS)}

    @classmethod
    def from_state_dict(cls, state: Dict[str, list]) -> "History":
        missing = [name for name in FIELDS if name not in state]
        if missing:
            raise ValueError(f"history state lacks {missing}")
        lengths = {len(state[name]) for name in FIELDS}
        if len(lengths) != 1:
            raise ValueError(f"history state has columns of different lengths {sorted(lengths)}")
        return cls(Observation(int(s), int(d), float(c), float(v), float(t))
                   for s, d, c, v, t in zip(*(state[name] for name in FIELDS)))

