"""forecast() stays bounded in memory whatever the target, and says why on steps it cannot hold
(issue 13 item 14). Timing and the full memory table are in benchmarks/forecast_memory.py."""
import tracemalloc
import warnings

import numpy as np
import pytest

from scaling_callback.core.forecast import forecast

STEPS = np.arange(100, 1001, 100)
LOSSES = 3.0 + 5.0 * STEPS ** -0.3
SHORT_LR = np.linspace(1.0, 0.1, 1000)  # a per-step schedule that stops at step 999


def peak_mib(fn):
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("target", [10 ** 8, 10 ** 9])
def test_a_short_per_step_schedule_is_not_padded_out_to_the_target(target):
    # was 1.65 GB at 1e8 and a 7.45 GiB allocation at 1e9
    fc, peak = peak_mib(lambda: forecast(STEPS, LOSSES, target_step=target, lr=SHORT_LR))
    assert peak < 100, f"{peak:.0f} MiB"
    assert fc.ok or "history too short" in fc.reason


@pytest.mark.parametrize("target", [5_000, 300_000, 2_000_000])
@pytest.mark.parametrize("lr", [SHORT_LR, np.r_[np.linspace(1.0, 0.1, 997), np.nan, np.nan]])
def test_holding_a_short_schedule_gives_the_forecast_of_the_padded_one(target, lr):
    # with and without pooling (blocks of 1, 2 and 8 steps): the same numbers as writing the
    # held value out to the target step
    padded = np.concatenate([lr, np.full(target + 1 - len(lr), lr[-1])])
    short, full = forecast(STEPS, LOSSES, target_step=target, lr=lr), forecast(STEPS, LOSSES, target_step=target, lr=padded)
    assert short.ok and full.ok
    assert (short.loss, short.low, short.high) == (full.loss, full.low, full.high)


def test_a_history_that_ends_inside_the_first_pooled_blocks_says_so():
    fc = forecast(STEPS, LOSSES, target_step=10 ** 9, lr=SHORT_LR)
    assert not fc.ok and "history too short for a target this far" in fc.reason


@pytest.mark.parametrize("big", [9.3e18, 1e19, 1e300])
def test_steps_beyond_what_a_float_holds_exactly_give_a_clear_reason(big):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was a RuntimeWarning from the int64 cast, then a wrong reason
        fc = forecast([10, big], [3.0, 2.9], target_step=100)
    assert not fc.ok and "beyond 2^53" in fc.reason


def test_a_target_of_1e10_is_forecast_within_bounded_memory():
    # was refused ("out of range (1..1e9)"); the pooled schedule makes any target cost the same
    T = 10 ** 10
    steps = np.geomspace(T / 1000, T / 10, 40).round()
    lr = (np.array([0.0, T / 100, 0.8 * T, T]), np.array([0.0, 1.0, 1.0, 0.1]))
    fc, peak = peak_mib(lambda: forecast(steps, 2.0 + 8.0 * steps ** -0.2, target_step=T, lr=lr))
    assert fc.ok and fc.low < fc.loss < fc.high and peak < 100
