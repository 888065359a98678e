"""The recommended stop between validations: the previous recommendation is held while the
forecast's own interval admits it (numpy only).

Late in a run the forecast's middle is nearly flat, and the first step where its remaining gain
falls below `min_delta` moves by tens of steps with each refit (702 ↔ 757 ↔ 702 in the example of
issue 29). A stop step read on the band's low curve and one read on its high curve bound the
stop steps the forecast cannot tell apart; a new recommendation inside those bounds is no news,
so the previous one stands, and it moves only when the interval rules it out. Keeping the
previous step "while its remaining gain stays below `min_delta`" instead would only ever move it
later: a step once judged a stop would stay one as the curve flattens.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

__all__ = ["admitted_stops", "first_stop_index", "held_note", "held_stop", "remaining_gain"]


def remaining_gain(loss) -> np.ndarray:
    """For each point of a forecast curve that ends at the planned end: its loss minus the
    lowest loss from it to the end (what continuing from there still gains)."""
    loss = np.asarray(loss, float)
    return loss - np.minimum.accumulate(loss[::-1])[::-1]


def first_stop_index(loss, min_delta: float) -> int:
    """Index of the first point whose remaining gain is below `min_delta` (the last point, the
    planned end, at worst: its gain is 0)."""
    return int(np.nonzero(remaining_gain(loss) < min_delta)[0][0])


def admitted_stops(steps, mid, low, high, min_delta: float) -> Tuple[int, int]:
    """(earliest, latest) stop step read on the forecast's middle and on the low and high curves
    of its interval (all on `steps`, which end at the planned end): the stop steps the interval
    admits."""
    steps = np.asarray(steps)
    found = [int(steps[first_stop_index(curve, min_delta)]) for curve in (mid, low, high)]
    return min(found), max(found)


def held_stop(previous: Optional[int], fresh: int, admitted: Tuple[int, int], now: int) -> int:
    """The recommendation to give: `previous` while it lies in the `admitted` range (inclusive)
    and after `now`, else the `fresh` stop step read on the forecast's middle. "Stop now" is
    never held: it is the middle's to say, and the advice board and the gate act on it."""
    earliest, latest = admitted
    if previous is not None and now < previous and earliest <= previous <= latest:
        return int(previous)
    return int(fresh)


def held_note(fresh: int, admitted: Tuple[int, int]) -> str:
    """The sentence the stop advice gains when it holds the previous step instead of `fresh`."""
    earliest, latest = admitted
    return (f" The stop step is held from the previous validation: the forecast's middle alone would now put it at "
            f"step {fresh}, but its interval admits any stop from step {earliest} to {latest}, and the "
            f"recommendation moves only when the interval rules it out.")
