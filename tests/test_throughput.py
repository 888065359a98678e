"""Throughput: rates over the training time between validations, time left from the wall time per step."""
import pytest

from scaling_callback.core import tags
from scaling_callback.tracking.throughput import Throughput


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_rates_leave_validation_out_and_time_left_counts_it():
    clock = Clock()
    meter = Throughput(clock)
    meter.start(0, 0, 0)
    clock.t = 10.0          # 10 s of training: 100 steps, 1000 tokens, 6e6 FLOPs
    meter.validation_started()
    clock.t = 12.0          # 2 s of validation
    r = meter.rates(100, 1000, 6e6, planned_end=400)
    assert r.tokens_per_second == pytest.approx(100.0) and r.flops_per_second == pytest.approx(6e5)
    assert r.seconds_to_end == pytest.approx(300 * 0.12)  # 12 s per 100 steps, validations included
    assert set(r.metrics()) >= {tags.TOKENS_PER_SECOND, tags.SECONDS_TO_PLANNED_END}
    clock.t = 17.0
    meter.validation_started()
    clock.t = 18.0
    r = meter.rates(200, 1500, 9e6, planned_end=None)
    assert r.tokens_per_second == pytest.approx(100.0) and r.seconds_to_end is None
    assert tags.SECONDS_TO_PLANNED_END not in r.metrics() and meter.training_seconds == pytest.approx(15.0)


def test_no_rate_without_steps_or_a_start():
    clock = Clock()
    meter = Throughput(clock)
    assert meter.rates(10, 10, 10, 100) is None  # never started
    clock.t = 1.0
    assert meter.rates(10, 10, 10, 100) is None  # no step since
