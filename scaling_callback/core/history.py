"""A run's records at each validation (numpy only): the observations later fitted and advised on,
and the forecasts made from them."""
from __future__ import annotations

import numbers
from dataclasses import astuple, dataclass, fields
from typing import ClassVar, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .checks import whole_number


@dataclass(frozen=True)
class Observation:
    """The run's scale and losses at one validation end. A loss that was not available is NaN."""

    step: int  # optimizer steps (trainer.global_step)
    tokens: int  # training tokens D so far, all ranks
    flops: float  # training compute C so far
    val_loss: float  # the monitored validation metric
    train_loss: float  # the training loss last logged, NaN when none


@dataclass(frozen=True)
class ForecastRecord:
    """The forecast made at one validation end: the loss predicted at `target_step` (the
    planned end, or a user horizon when the run has none) and its interval. When no forecast
    could be made, `ok` is False, `reason` says why and the numbers are NaN."""

    step: int  # the validation step it was made at
    target_step: int  # the step it forecasts (0 when there was none to forecast)
    loss: float  # predicted loss at target_step
    low: float  # lower end of the interval (the optimistic end)
    high: float  # upper end of the interval
    asymptote: float  # loss approached with unlimited further training
    exponent: float  # exponent of the fitted law
    fitted_loss: float  # the fitted curve at `step` (the loss "now", without the noise)
    ok: bool
    reason: Optional[str]  # None exactly when ok

    @property
    def optimistic_gain(self) -> float:
        """Predicted improvement from now to the target at the interval's optimistic end:
        fitted_loss − low (NaN when there is no forecast)."""
        return self.fitted_loss - self.low


def _as_count(v):
    """A whole number ≥ 0 (steps and token counts): 1500.7 or −5 are not silently made one."""
    return whole_number(v, "the value", what="a whole number >= 0")


def _as_float(v):
    """A real number (NaN allowed: a loss not measured); a string or a bool is not one."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise ValueError(f"the value must be a number, got {v!r}")
    return float(v)


def _as_bool(v):
    """True/False only: the string "False" would otherwise read as True."""
    if not isinstance(v, (bool, np.bool_)):
        raise ValueError(f"the value must be True or False, got {v!r}")
    return bool(v)


def _as_reason(v):
    if v is not None and not isinstance(v, str):
        raise ValueError(f"the value must be a string or None, got {v!r}")
    return v


# how each annotated field type comes back from its plain checkpoint value (checked, never coerced)
_CONVERT = {"int": _as_count, "float": _as_float, "bool": _as_bool, "Optional[str]": _as_reason}
_COLUMN_DTYPE = {"int": np.int64, "float": float, "bool": bool}


class Records:
    """Frozen-dataclass records (of type `record_type`) in the order they were made; saved into
    and restored from checkpoints as {field: [plain Python values]} (NaN stays NaN)."""

    record_type: ClassVar[type]

    def __init__(self, records: Sequence = ()):
        self._records: List = list(records)

    @classmethod
    def fields(cls) -> Tuple[str, ...]:
        return tuple(f.name for f in fields(cls.record_type))

    def append(self, record) -> None:
        if not isinstance(record, self.record_type):
            raise TypeError(f"expected a {self.record_type.__name__}, got {type(record).__name__}")
        self._records.append(record)

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator:
        return iter(self._records)

    def __getitem__(self, i: int):
        return self._records[i]

    def column(self, name: str) -> np.ndarray:
        """One field of every record as an array (int fields as int64, float fields as float)."""
        types = {f.name: f.type for f in fields(self.record_type)}
        if name not in types:
            raise KeyError(f"unknown field {name!r}; fields are {self.fields()}")
        dtype = _COLUMN_DTYPE.get(types[name], object)
        return np.array([getattr(r, name) for r in self._records], dtype=dtype)

    def state_dict(self) -> Dict[str, list]:
        rows = [astuple(r) for r in self._records]
        return {name: [row[i] for row in rows] for i, name in enumerate(self.fields())}

    @classmethod
    def from_state_dict(cls, state: Dict[str, list]):
        names = cls.fields()
        if not isinstance(state, dict):
            raise ValueError(f"{cls.__name__} state must be a dict of columns, got {type(state).__name__}")
        missing = [name for name in names if name not in state]
        if missing:
            raise ValueError(f"{cls.__name__} state lacks {missing}")
        not_lists = [name for name in names if not isinstance(state[name], (list, tuple))]
        if not_lists:
            raise ValueError(f"{cls.__name__} state columns {not_lists} are not lists")
        lengths = {len(state[name]) for name in names}
        if len(lengths) > 1:
            raise ValueError(f"{cls.__name__} state has columns of different lengths {sorted(lengths)}")
        convert = [_CONVERT[f.type] for f in fields(cls.record_type)]
        records = []
        for i, row in enumerate(zip(*(state[name] for name in names))):
            values = []
            for name, c, v in zip(names, convert, row):
                try:
                    values.append(c(v))
                except ValueError as exc:
                    raise ValueError(f"{cls.__name__} state column {name!r}, row {i}: {exc}") from None
            records.append(cls.record_type(*values))
        return cls(records)


class History(Records):
    """The run's `Observation`s, one per validation end."""

    record_type = Observation


class ForecastHistory(Records):
    """The `ForecastRecord`s, one per validation end with forecasting on."""

    record_type = ForecastRecord

    def nearest(self, step: int, *, ok_only: bool = True) -> Optional[ForecastRecord]:
        """The record made closest to `step` (the earlier on ties; successful ones only unless
        ok_only=False), or None. E.g. the forecast made at 25% of the run:
        `nearest(planned_end // 4)`."""
        best = None
        for r in self._records:
            if ok_only and not r.ok:
                continue
            if best is None or abs(r.step - step) < abs(best.step - step):
                best = r
        return best

