"""Reading a `ScalingTracker` state back from a checkpoint: every key checked, nothing coerced.

A state with a key missing or a value of a wrong type or range (a negative or fractional token
count, a history column of strings, `ok = "False"`) raises one ValueError naming the key, before
anything is loaded: a resumed run never continues from silently wrong counts.
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Dict, Optional

from ..core.checks import INT64_MAX, whole_number
from ..core.history import ForecastHistory, History
from .identity import read_convention
from .planned import STATE_KEYS, PlannedSchedule

REQUIRED = ("tokens", "train_batches", "history")  # the others are optional (states of older versions lack them)


def _count(value) -> int:
    return whole_number(value, "it", maximum=INT64_MAX, what="a whole number from 0 to 2^63 - 1")


def _schedule(value) -> Optional[PlannedSchedule]:
    """None, or the planned learning rate saved by `PlannedSchedule.state_dict`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"it must be a dict or None, got {type(value).__name__}")
    missing = [k for k in STATE_KEYS if k not in value]
    if missing:
        raise ValueError(f"it lacks {missing}")
    steps, lr = value["steps"], value["lr"]
    if not (isinstance(steps, (list, tuple)) and isinstance(lr, (list, tuple)) and len(steps) == len(lr)):
        raise ValueError("its 'steps' and 'lr' must be lists of one length")
    steps = [_count(s) for s in steps]
    if any(not isinstance(v, numbers.Real) or isinstance(v, bool) or not math.isfinite(v) for v in lr):
        raise ValueError("its 'lr' must hold finite numbers")
    if not isinstance(value["source"], str) or not (value["note"] is None or isinstance(value["note"], str)):
        raise ValueError("its 'source' must be a string and its 'note' a string or None")
    return PlannedSchedule(steps, lr, _count(value["end"]), value["source"], value["note"])


def _advice(value):
    """None, or the advice board's state: {"active": {topic: step raised}, "stop_since": step or None}."""
    if value is None:
        return None
    if not (isinstance(value, dict) and isinstance(value.get("active"), dict) and "stop_since" in value):
        raise ValueError("it must be a dict with 'active' (a dict) and 'stop_since'")
    if not all(isinstance(topic, str) for topic in value["active"]):
        raise ValueError("its 'active' topics must be strings")
    return {"active": {topic: _count(step) for topic, step in value["active"].items()},
            "stop_since": None if value["stop_since"] is None else _count(value["stop_since"])}


def _optional_positive(value) -> Optional[int]:
    return whole_number(value, "it", minimum=1, maximum=INT64_MAX, none_ok=True,
                        what="a whole number from 1 to 2^63 - 1")


def _optional_count(value) -> Optional[int]:
    return None if value is None else _count(value)


def _optional_forecasts(value):
    return ForecastHistory() if value is None else ForecastHistory.from_state_dict(value)


_READERS: Dict[str, Callable] = {"tokens": _count, "train_batches": _count, "history": History.from_state_dict,
                                 "forecasts": _optional_forecasts, "schedule": _schedule, "advice": _advice,
                                 "recommended_stop": _optional_count,
                                 # what identifies the run (identity.py)
                                 "n_params": _optional_positive, "convention": read_convention,
                                 "planned_steps": _optional_positive}


def read_state(state) -> dict:
    """The checked values of a tracker state: {"tokens", "train_batches", "history", "forecasts",
    "schedule", "advice", "recommended_stop", "n_params", "convention", "planned_steps"} (None for an optional key absent). Raises ValueError naming the first key that is missing or wrong."""
    if not isinstance(state, dict):
        raise ValueError(f"the state is a {type(state).__name__}, not a dict")
    missing = [key for key in REQUIRED if key not in state]
    if missing:
        more = f" (and {missing[1:]})" if len(missing) > 1 else ""
        raise ValueError(f"key {missing[0]!r} missing{more}; it has {sorted(map(str, state))}")
    out = {}
    for key, read in _READERS.items():
        try:
            out[key] = read(state.get(key))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"key {key!r}: {exc}") from None
    return out
