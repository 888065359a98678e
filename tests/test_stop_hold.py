"""The recommended stop between validations (issue 29): held while the forecast's interval admits
it, so the chart does not zigzag (702 ↔ 757 ↔ 702) on a flat tail; moved, earlier or later, when
the interval rules it out; the Text tab says the step the chart shows; kept across a resume."""
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from scaling_callback import ScalingTracker, read_scalars
from scaling_callback.core import tags
from scaling_callback.core.advice import recommended_stop
from scaling_callback.core.advice.stop_hold import admitted_stops, first_stop_index, held_stop

END = 800
EVERY = 25


def flat_tail(step):
    """A power law whose tail, late in the run, gains about min_delta = 0.01 to the end."""
    return 2.0 + 3.0 * step ** -0.5


def turns(sequence):
    """How often a sequence changes direction (an A→B→A reversal is one turn)."""
    moves = np.diff(np.asarray(sequence, float))
    moves = moves[moves != 0]
    return int(np.sum(np.diff(np.sign(moves)) != 0))


def _tracker(writer=None):
    return ScalingTracker(non_embedding_params=1000, planned_steps=END, lr_schedule=lambda s: 1e-3, figure_every=0,
                          min_delta=0.01, writer=writer)


def _texts(logdir):
    (events,) = list(logdir.rglob("*tfevents*"))
    acc = EventAccumulator(str(events), size_guidance={"tensors": 0})
    acc.Reload()
    return {e.step: e.tensor_proto.string_val[0].decode() for e in acc.Tensors(tags.ADVICE_TEXT + "/text_summary")}


def test_the_recommended_stop_chart_does_not_zigzag_on_a_flat_tail_and_the_text_agrees(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    tracker = _tracker(writer)
    for step in range(EVERY, END + 1, EVERY):
        tracker.observe(step, flat_tail(step))
    writer.close()
    steps, stops = read_scalars(str(tmp_path), [tags.RECOMMENDED_STOP])[tags.RECOMMENDED_STOP]
    assert len(stops) == END // EVERY - 1  # every validation but the first (one point) has a forecast
    # before the hold it turned six times (…, 663, 648, 654, 659, 647, 637, 644, …)
    assert turns(stops) == 0, stops.tolist()
    assert np.all(stops >= steps)  # never a stop in the past
    texts = _texts(tmp_path)
    for step, stop in zip(steps.astype(int), stops.astype(int)):
        if step < stop < END:  # the advice names the step the chart shows
            assert f"stopping at step {stop} instead of {END}" in texts[step], texts[step]


def test_a_resumed_tracker_holds_the_same_stop_as_the_uninterrupted_one():
    whole = _tracker()
    full = [whole.observe(s, flat_tail(s)).metrics.get(tags.RECOMMENDED_STOP) for s in range(EVERY, END + 1, EVERY)]
    first = _tracker()
    for s in range(EVERY, 401, EVERY):
        first.observe(s, flat_tail(s))
    state = first.state_dict()
    assert state["recommended_stop"] == first.recommended_stop == full[400 // EVERY - 1]
    resumed = _tracker()
    resumed.load_state_dict(state)
    rest = [resumed.observe(s, flat_tail(s)).metrics.get(tags.RECOMMENDED_STOP) for s in range(425, END + 1, EVERY)]
    assert rest == full[400 // EVERY:]
    # a checkpoint of an earlier version, without the key, resumes with nothing to hold
    del state["recommended_stop"]
    older = _tracker()
    older.load_state_dict(state)
    assert older.recommended_stop is None
    with pytest.raises(ValueError, match="recommended_stop"):
        _tracker().load_state_dict({**first.state_dict(), "recommended_stop": 702.5})


# ---- the rule ----------------------------------------------------------------------------

def test_the_previous_stop_is_held_inside_the_admitted_range_and_moves_either_way_outside_it():
    assert held_stop(702, 757, (690, 770), now=650) == 702  # inside: no news, no move
    assert held_stop(702, 757, (702, 757), now=650) == 702  # the bounds count as inside
    assert held_stop(702, 757, (720, 790), now=650) == 757  # ruled out as too early: later
    assert held_stop(800, 702, (650, 760), now=650) == 702  # ruled out as too late: earlier (no ratchet)
    assert held_stop(None, 757, (690, 770), now=650) == 757  # nothing to hold at the first forecast
    assert held_stop(690, 757, (690, 770), now=690) == 757  # "stop now" is the middle's to say, never held


def test_the_admitted_range_is_read_on_the_middle_and_both_ends_of_the_interval():
    steps = np.arange(0, 101, 10)
    mid = 1.0 - 0.002 * steps  # gains 0.002 a step: less than 0.045 to the end from step 80 on
    low = 1.0 - 0.003 * steps  # steeper: from step 90 on
    high = 1.0 - 0.001 * steps  # flatter: from step 60 on
    assert steps[first_stop_index(mid, 0.045)] == 80
    assert admitted_stops(steps, mid, low, high, 0.045) == (60, 90)


def _late_tail(step):
    return 2.0 + 3.0 * np.asarray(step, float) ** -0.5


def test_recommended_stop_holds_the_previous_step_and_says_so():
    steps = np.arange(500, 801, 10)
    mid = _late_tail(steps)
    band = (mid - 0.02 * (steps - 500) / 300, mid + 0.005 * (steps - 500) / 300)
    fresh = recommended_stop(steps, mid, 800, 0.01)
    assert fresh.admitted_stops is None and "held" not in fresh.message
    lo, hi = recommended_stop(steps, mid, 800, 0.01, band=band).admitted_stops
    assert lo < fresh.stop_step < hi
    previous = lo + 10
    held = recommended_stop(steps, mid, 800, 0.01, band=band, previous_stop=previous)
    assert held.stop_step == previous and held.admitted_stops == (lo, hi)
    # what the middle still gains after the held step, said as such beside the interval's reading
    assert held.improvement_after_stop >= 0.01
    assert f"Stopping at step {previous} instead of 800" in held.message
    assert f"would now put it at step {fresh.stop_step}" in held.message
    assert recommended_stop(steps, mid, 800, 0.01, band=band, previous_stop=hi + 10).stop_step == fresh.stop_step


@pytest.mark.parametrize("band, previous, match", [
    ("low-high", None, "band must be a \\(low, high\\) pair"),
    ((np.ones(3), np.ones(31)), None, "band low: steps and values differ"),
    ((np.full(31, np.nan), np.ones(31)), None, "band low: values must be finite"),
    (None, 702.5, "previous_stop must be a whole number"),
    (None, -1, "previous_stop must be a whole number"),
])
def test_bad_band_or_previous_stop_is_a_clear_error(band, previous, match):
    steps = np.arange(500, 801, 10)
    with pytest.raises(ValueError, match=match):
        recommended_stop(steps, _late_tail(steps), 800, 0.01, band=band, previous_stop=previous)
