"""The argument checks every layer shares: one place decides what a whole number or a positive
number is, and how the error says so."""
from __future__ import annotations

import math
import numbers
from typing import Optional, Tuple, Type

import numpy as np


INT64_MAX = 2 ** 63 - 1  # counts and steps are kept in int64 arrays and tensors


def whole_number(value, name: str, *, minimum: int = 0, maximum: Optional[int] = None, none_ok: bool = False,
                 what: Optional[str] = None, error: Type[Exception] = ValueError) -> Optional[int]:
    """`value` as an int when it is a whole number in [`minimum`, `maximum`] (an integral float
    such as 1.5e8 counts; a bool does not); None when it is None and `none_ok`; else `error`
    naming `name`."""
    if value is None and none_ok:
        return None
    integral_float = isinstance(value, float) and value.is_integer()
    if (isinstance(value, bool) or not (integral_float or hasattr(value, "__index__")) or int(value) < minimum
            or (maximum is not None and int(value) > maximum)):
        what = what or ("a positive integer" if minimum == 1 else f"a whole number >= {minimum}")
        raise error(f"{name} must be {what}{' or None' if none_ok else ''}, got {value!r}")
    return int(value)


def positive_number(value, name: str, *, error: Type[Exception] = ValueError, what: str = "a finite positive number") -> float:
    """`value` as a float when it is a real number (not a bool, not a string), finite and > 0;
    else `error` naming `name`."""
    number = float(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else math.nan
    if not (math.isfinite(number) and number > 0):
        raise error(f"{name} must be {what}, got {value!r}")
    return number


def curve_arrays(steps, values, name: str):
    """(steps, values) of one curve as flat float arrays of one length (ValueError naming `name`
    otherwise): where every curve reader starts; each then keeps the points it can use."""
    s = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.shape != v.shape:
        raise ValueError(f"{name}: steps and values differ in length ({s.size} vs {v.size})")
    return s, v


def increasing_curve(name: str, steps, values, drop_nonfinite: bool) -> Tuple[np.ndarray, np.ndarray, int]:
    """Validated (steps, values) of one curve; steps strictly increasing. Returns the number of
    non-finite values dropped (an error instead when `drop_nonfinite` is False)."""
    s, v = curve_arrays(steps, values, name)
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: steps must be finite")
    if s.size > 1 and not np.all(np.diff(s) > 0):
        raise ValueError(f"{name}: steps must be strictly increasing")
    bad = ~np.isfinite(v)
    if bad.any():
        if not drop_nonfinite:
            raise ValueError(f"{name}: values must be finite ({int(bad.sum())} are not)")
        s, v = s[~bad], v[~bad]
    return s, v, int(bad.sum())
