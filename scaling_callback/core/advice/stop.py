"""When continuing a run stops paying, by its forecast to the planned end: the recommended stop,
or with a schedule that ends in a decay, an earlier start of that decay (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional, Tuple

import numpy as np

from ..checks import increasing_curve, positive_number, whole_number
from ..formatting import format_number
from .stop_hold import admitted_stops, first_stop_index, held_note, held_stop, remaining_gain

__all__ = ["FinalDecay", "StopAdvice", "final_decay", "recommended_stop"]


@dataclass(frozen=True)
class FinalDecay:
    """The final learning-rate decay of a planned schedule."""

    start_step: int  # last step at the peak rate: the rate is lower at every later step given
    length: int  # planned_end − start_step
    peak_lr: float  # learning rate on the plateau before the decay
    final_lr: float  # learning rate at the planned end


def final_decay(lr_steps, lr, planned_end: int, *, max_final_ratio: float = 0.5,
                rel_tol: float = 1e-12) -> Optional[FinalDecay]:
    """Find the final decay of a learning-rate schedule (lr[k] is the rate used at lr_steps[k]).

    A schedule "ends in a decay" when its rate at `planned_end` is at most `max_final_ratio` of its
    highest rate (cosine, linear or (1 − sqrt) cool-downs, step drops). The decay starts from
    the last step at which the rate is at its peak (within `rel_tol`): the end of warm-up for
    cosine, the end of the stable phase for warmup-stable-decay. None when there is no such decay.
    """
    s, v, _ = increasing_curve("lr", lr_steps, lr, drop_nonfinite=False)
    if s.size == 0:
        raise ValueError("lr schedule is empty")
    keep = s <= planned_end
    if not keep.any():
        raise ValueError(f"lr schedule starts after the planned end {planned_end}")
    s, v = s[keep], v[keep]
    peak = float(np.max(v))
    final = float(np.interp(planned_end, s, v))
    if peak <= 0 or final > max_final_ratio * peak:
        return None
    start = int(s[np.nonzero(v >= peak * (1 - rel_tol))[0][-1]])
    return FinalDecay(start, int(planned_end) - start, peak, final)


@dataclass(frozen=True)
class StopAdvice:
    """When continuing stops paying, by the forecast to the planned end."""

    topic: ClassVar[str] = "Recommended stop"
    stop_step: int  # earliest step after which the forecast improves by less than min_delta
    improvement_after_stop: float  # predicted loss at stop_step − best predicted loss after it
    predicted_final_loss: float  # forecast at planned_end
    planned_end: int
    min_delta: float
    decay_start_step: Optional[int]  # planned start of the final lr decay (None: no final decay)
    decay_length: Optional[int]  # its planned length in steps
    recommended_decay_start: Optional[int]  # where to start that decay instead, to end earlier
    recommended_end: Optional[int]  # recommended_decay_start + decay_length
    warning: bool  # there are steps to save (stop_step, or recommended_end, before planned_end)
    message: str
    # the stop steps the forecast's interval admits (earliest, latest); None without a band
    admitted_stops: Optional[Tuple[int, int]] = None


def recommended_stop(
    steps,
    predicted_loss,
    planned_end: int,
    min_delta: float,
    *,
    lr_steps=None,
    lr=None,
    band=None,
    previous_stop: Optional[int] = None,
) -> StopAdvice:
    """The earliest step after which the forecast predicts less than `min_delta` further gain.

    `steps`, `predicted_loss`: the forecast curve from now (its first step) to at least
    `planned_end`, under the planned learning-rate schedule. For each step s the remaining gain is
    predicted_loss(s) − min(predicted_loss over [s, planned_end]); `stop_step` is the first grid
    step where it falls below `min_delta` (at worst `planned_end`, where it is 0). The resolution
    is the forecast grid's.

    Schedules with a final decay (give the planned schedule as `lr_steps`, `lr`; lr[k] is the
    rate used at step lr_steps[k]): a schedule-aware forecast puts most of the late gain in the
    decay, so `stop_step` lands inside the decay, and cutting the run there leaves the model
    half-annealed. The better move is to start the same decay earlier. Assuming, as the
    multi-power law does to first order (Luo et al. 2025; Hägele et al. 2024 find cool-downs from
    any point of a constant-rate run work as well as cosine), that the drop a decay brings
    depends on the decay and not on when it starts, starting it at step t instead of the planned
    decay start d loses predicted_loss(t) − predicted_loss(d), read on the forecast before d
    (the stable phase, where the planned rate is constant). `recommended_decay_start` is the
    earliest t with that loss below `min_delta`, and `recommended_end` = t + the planned decay
    length. When the rate decays over the whole rest of the run (cosine after warm-up) there is
    no stable phase to read, and both are None.

    Between validations (`band`: the interval's (low, high) curves on `steps`; `previous_stop`:
    the stop step recommended at the previous validation): the stop step is also read on the low
    and the high curve, and `previous_stop` is kept while it lies between the earliest and latest
    of the three (`admitted_stops`), so a refit that moves the flat tail of the middle a little
    does not move the recommendation back and forth (stop_hold.py). Then `stop_step` is that held
    step, and the remaining gain there may be above `min_delta` by less than the interval's width.
    """
    s, v, _ = increasing_curve("forecast", steps, predicted_loss, drop_nonfinite=False)
    min_delta = positive_number(min_delta, "min_delta")
    planned_end = int(planned_end)
    previous_stop = whole_number(previous_stop, "previous_stop", none_ok=True)
    admitted = None if band is None else _admitted(s, v, band, planned_end, min_delta)
    s, v, end_loss = _up_to_end(s, v, planned_end)
    now = int(s[0])
    fresh = stop_step = int(s[first_stop_index(v, min_delta)])
    if admitted is not None:
        stop_step = held_stop(previous_stop, fresh, admitted, now)
    gain = _gain_at(s, v, stop_step)

    decay = None
    rec_start = rec_end = None
    if lr is not None:
        decay = final_decay(lr_steps, lr, planned_end)
    if decay is not None and decay.start_step > now:
        rec_start, rec_end = _earlier_decay(s, v, decay, min_delta)

    if decay is not None and rec_start is not None:
        warn, msg = _earlier_decay_message(decay, rec_start, rec_end, stop_step, planned_end, min_delta, end_loss)
    else:
        warn, msg = _stop_message(now, stop_step, planned_end, min_delta, end_loss, decaying=decay is not None,
                                  middle_gain=gain)
    if stop_step != fresh:
        msg += held_note(fresh, admitted)
    return StopAdvice(stop_step, gain, end_loss, planned_end, min_delta,
                      None if decay is None else decay.start_step,
                      None if decay is None else decay.length, rec_start, rec_end, warn, msg, admitted)


def _admitted(s, v, band, planned_end: int, min_delta: float):
    """The (earliest, latest) stop step that the middle (steps s, losses v) and the `band`'s
    (low, high) curves on the same steps give."""
    if not (isinstance(band, (tuple, list)) and len(band) == 2):
        raise ValueError(f"band must be a (low, high) pair of curves on the forecast's steps, got {type(band).__name__}")
    curves = [_up_to_end(*increasing_curve(name, s, values, drop_nonfinite=False)[:2], planned_end)
              for name, values in (("forecast", v), ("band low", band[0]), ("band high", band[1]))]
    return admitted_stops(curves[0][0], *(c[1] for c in curves), min_delta)


def _gain_at(s, v, step: int) -> float:
    """What the forecast (steps s, losses v, cut at the planned end) still gains after `step`."""
    at = float(np.interp(step, s, v))
    return float(remaining_gain(np.append(at, v[s > step]))[0])


def _up_to_end(s, v, planned_end: int):
    """The forecast (steps s, losses v) cut at the planned end, with its loss there appended, and
    that loss; ValueError when the forecast does not cover the planned end."""
    if s.size == 0:
        raise ValueError("forecast curve is empty")
    if s[-1] < planned_end:
        raise ValueError(f"forecast ends at step {s[-1]:g}, before the planned end {planned_end}")
    if s[0] > planned_end:
        raise ValueError(f"forecast starts at step {s[0]:g}, after the planned end {planned_end}")
    end_loss = float(np.interp(planned_end, s, v))
    keep = s < planned_end
    return np.append(s[keep], planned_end), np.append(v[keep], end_loss), end_loss


def _earlier_decay(s, v, decay: FinalDecay, min_delta: float):
    """(start, end) of the same final decay started as early as loses less than `min_delta`,
    read on the forecast's stable phase (the steps up to the planned decay start)."""
    stable = s <= decay.start_step
    loss_at_d = float(np.interp(decay.start_step, s, v))
    ok = np.nonzero(v[stable] - loss_at_d < min_delta)[0]
    rec_start = int(s[stable][ok[0]]) if ok.size else decay.start_step
    return rec_start, rec_start + decay.length


def _earlier_decay_message(decay: FinalDecay, rec_start, rec_end, stop_step, planned_end, min_delta, end_loss):
    """(warning, message) of the advice to start the final decay earlier, or to keep the plan."""
    saves = planned_end - rec_end
    if saves > 0:
        return True, (
            f"Start the final learning-rate decay at step {rec_start} instead of {decay.start_step} "
            f"and end at {rec_end}: the forecast loses less than {format_number(min_delta)} against the "
            f"planned {format_number(end_loss)} at step {planned_end}, saving {saves} steps (cut short without an early decay, the run would "
            f"only come within {format_number(min_delta)} after step {stop_step}, inside the decay).")
    return False, (f"Keep the plan: starting the final decay before step {decay.start_step} would "
                   f"lose at least {format_number(min_delta)} of the predicted final loss {format_number(end_loss)}.")


def _stop_message(now, stop_step, planned_end, min_delta, end_loss, *, decaying=False, middle_gain=0.0):
    """(warning, message) of the advice to stop now, stop at `stop_step`, or keep training.

    `decaying`: the learning rate is already in its final decay (no earlier start to advise). A
    forecast under the schedule puts most of a decay's gain at its end; the message says so in
    the words that fit its advice (it once said "stop now ... the end of the decay is where the
    gain is", which reads as a contradiction). `middle_gain`: what the forecast's middle still
    gains after `stop_step`; at least `min_delta` only where a held stop step (stop_hold.py, never
    `now`) lies before the middle's own."""
    warn = stop_step < planned_end
    delta = format_number(min_delta)
    if stop_step == now and warn:
        msg = (f"Stop now (step {now}): the forecast predicts less than {delta} further improvement by the planned "
               f"end at step {planned_end} (final {format_number(end_loss)})")
        tail = ", counting what the rest of the learning-rate decay under way still brings."
    elif warn:
        loses = (f"less than {delta} of loss by the forecast" if middle_gain < min_delta else
                 f"{format_number(middle_gain)} of loss by the forecast's middle and less than {delta} by one end "
                 f"of its interval")
        msg = (f"Stopping at step {stop_step} instead of {planned_end} loses {loses} "
               f"(final {format_number(end_loss)})")
        tail = ", counting the rest of the learning-rate decay under way."
    else:
        msg = (f"Keep training to the planned end at step {planned_end}: the forecast still gains at least "
               f"{delta} until then (final {format_number(end_loss)})")
        tail = "; the learning rate is already decaying, and the end of the decay is where the gain is."
    return warn, msg + (tail if decaying else ".")
