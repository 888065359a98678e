"""The functional forms against direct, unoptimised evaluations of their defining sums."""
import numpy as np
import pytest

from scaling_callback.core.schedules import (
    annealing_area,
    lr_area,
    multi_power_drop,
    normalized_schedule,
)


def wsd(T=300, warm=20, decay_from=200, floor=0.1):
    lr = np.ones(T + 1)
    lr[: warm + 1] = np.linspace(0, 1, warm + 1)
    lr[decay_from:] = np.linspace(1, floor, T + 1 - decay_from)
    return lr


def direct_drop(eta, t, C, beta, gamma):
    """Σ_{k=1..t} (η_{k−1} − η_k)·G(η_k^(−γ)·Σ_{τ=k..t} η_τ), from the peak on, term by term."""
    peak = int(np.argmax(eta))
    total = 0.0
    for k in range(peak + 1, t + 1):
        Sk = eta[k: t + 1].sum()
        total += (eta[k - 1] - eta[k]) * (1 - (C * eta[k] ** (-gamma) * Sk + 1) ** (-beta))
    return total


def test_normalized_schedule_divides_by_peak_and_rejects_empty():
    assert normalized_schedule([0.0, 2e-4, 4e-4, 1e-4]).tolist() == [0.0, 0.5, 1.0, 0.25]
    with pytest.raises(ValueError):
        normalized_schedule([0.0, np.nan])


def test_lr_area_is_the_cumulative_sum_after_step_zero():
    eta = np.array([0.5, 1.0, 1.0, 0.5])
    assert lr_area(eta).tolist() == [0.0, 1.0, 2.0, 2.5]


def test_annealing_area_matches_the_momentum_recurrence():
    eta = normalized_schedule(wsd(T=2000, decay_from=700))
    m, S2 = 0.0, []
    for i in range(len(eta)):
        m = 0.999 * m + (max(eta[i - 1] - eta[i], 0.0) if i else 0.0)
        S2.append(m)
    np.testing.assert_allclose(annealing_area(eta), np.cumsum(S2), rtol=1e-10, atol=1e-10)


def test_multi_power_drop_is_exact_when_every_step_is_its_own_block():
    eta = normalized_schedule(wsd())
    steps = np.array([0, 150, 200, 201, 250, 300])
    got = multi_power_drop(eta, steps, 0.11, 0.59, 0.64, cells=10_000)
    want = [direct_drop(eta, t, 0.11, 0.59, 0.64) for t in steps]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert got[0] == got[1] == 0.0  # nothing before the decay


def test_multi_power_drop_pooled_blocks_stay_close_for_a_long_schedule():
    eta = normalized_schedule(wsd(T=6000, warm=100, decay_from=3000))
    steps = np.array([3500, 4500, 6000])
    exact = multi_power_drop(eta, steps, 0.11, 0.59, 0.64, cells=10_000)
    pooled = multi_power_drop(eta, steps, 0.11, 0.59, 0.64)
    np.testing.assert_allclose(pooled, exact, rtol=2e-3)

