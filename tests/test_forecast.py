"""forecast(): recovery of known laws, the fallbacks and reasons, robustness to bad input, and
the interval's calibration on the bundled real curves (data/curves)."""
import csv
import dataclasses
import math
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaling_callback.io import read_curves_csv
from scaling_callback.core.forecast import DEFAULT_PRIORS, Forecast, forecast
from scaling_callback.core.schedules import lr_area, multi_power_drop, normalized_schedule

# near-flat priors and no window: a noiseless curve then speaks for itself
FLAT = dataclasses.replace(DEFAULT_PRIORS, log_alpha=(-0.7, 10.0), anneal=(0.03, 0.0, 10.0), window=0.0,
                           noise=1e-5)


def power_curve(T=20_000, every=200, E=2.5, A=0.8, alpha=0.37):
    steps = np.arange(every, T + 1, every)
    return steps, E + A * (steps / 1000.0) ** (-alpha)


def wsd_schedule(T=20_000, warm=500, decay_from=15_000, floor=0.1):
    lr = np.ones(T + 1)
    lr[: warm + 1] = np.linspace(0.0, 1.0, warm + 1)
    lr[decay_from:] = np.linspace(1.0, floor, T + 1 - decay_from)
    return 3e-4 * lr


def mpl_curve(lr, every=200, L0=2.4, A=0.9, alpha=0.5, B=0.3):
    T = len(lr) - 1
    steps = np.arange(every, T + 1, every)
    eta = normalized_schedule(lr)
    drop = multi_power_drop(eta, steps, 0.11, 0.59, 0.64)
    # the multi-power law, L = L0 + A·S1^(−α) − B·LD/B (Luo et al. 2025)
    return steps, L0 + A * (lr_area(eta)[steps] / 1000.0) ** (-alpha) - B * drop


@pytest.mark.parametrize("cut", [0.2, 0.5, 0.8])
def test_recovers_a_noiseless_power_law(cut):
    steps, loss = power_curve()
    seen = steps <= cut * steps[-1]
    fc = forecast(steps[seen], loss[seen], target_step=int(steps[-1]), priors=FLAT)
    assert fc.ok and fc.reason is None and fc.law == "power"
    assert fc.loss == pytest.approx(loss[-1], rel=1e-4)
    assert fc.exponent == pytest.approx(0.37, rel=0.01)
    assert fc.asymptote == pytest.approx(2.5, rel=2e-3)
    assert fc.low <= fc.loss <= fc.high


def test_recovers_a_noiseless_multi_power_law_once_the_decay_is_seen():
    lr = wsd_schedule()
    steps, loss = mpl_curve(lr)
    seen = steps <= 0.9 * steps[-1]
    fc = forecast(steps[seen], loss[seen], target_step=int(steps[-1]), lr=lr, priors=FLAT)
    assert fc.ok and fc.law == "multi-power"
    assert fc.loss == pytest.approx(loss[-1], rel=2e-4)
    full = forecast(steps, loss, target_step=int(steps[-1]), lr=lr, priors=FLAT)
    assert full.params["alpha"] == pytest.approx(0.5, rel=0.01)
    assert full.params["E"] == pytest.approx(2.4, rel=1e-3)
    assert full.params["B"] == pytest.approx(0.3, rel=0.01)


def test_default_priors_forecast_the_decay_before_it_starts():
    lr = wsd_schedule()
    steps, loss = mpl_curve(lr, B=0.1)  # a drop of 3.4% of the loss, as real runs show
    seen = steps <= 0.6 * steps[-1]
    with_schedule = forecast(steps[seen], loss[seen], target_step=int(steps[-1]), lr=lr)
    without = forecast(steps[seen], loss[seen], target_step=int(steps[-1]))
    assert with_schedule.law == "multi-power" and without.law == "power"
    assert any("no learning-rate schedule" in note for note in without.notes)
    # the planned decay is worth a drop the plain power law cannot see
    assert with_schedule.loss < without.loss - 0.02
    assert abs(with_schedule.loss / loss[-1] - 1) < 0.02


def test_schedule_as_knots_equals_schedule_per_step():
    lr = wsd_schedule()
    steps, loss = mpl_curve(lr)
    seen = steps <= 0.8 * steps[-1]
    knots = (np.array([0, 500, 15_000, 20_000]), 3e-4 * np.array([0.0, 1.0, 1.0, 0.1]))
    a = forecast(steps[seen], loss[seen], target_step=20_000, lr=lr)
    b = forecast(steps[seen], loss[seen], target_step=20_000, lr=knots)
    assert a.loss == pytest.approx(b.loss, rel=1e-5)  # linspace vs interp rounding


def test_predict_gives_the_curve_and_its_band():
    steps, loss = power_curve()
    seen = steps <= 8000
    fc = forecast(steps[seen], loss[seen], target_step=20_000)
    mid, low, high = fc.predict([4000, 8000, 12_000, 20_000])
    assert mid[-1] == pytest.approx(fc.loss, rel=1e-9)
    assert np.all(low <= mid) and np.all(mid <= high)
    assert np.all(np.diff(mid) < 0)  # a decreasing law
    assert (high - low)[-1] > (high - low)[2]  # the band widens with the reach
    assert mid[1] == pytest.approx(loss[39], rel=2e-3)


def test_a_constant_schedule_is_the_plain_power_law():
    steps, loss = power_curve()
    seen = steps <= 8000
    a = forecast(steps[seen], loss[seen], target_step=20_000, lr=np.full(20_001, 1e-3))
    b = forecast(steps[seen], loss[seen], target_step=20_000)
    assert a.law == b.law == "power"
    assert a.loss == pytest.approx(b.loss, rel=1e-9)


@pytest.mark.parametrize(
    "steps, losses, target, reason",
    [
        ([100], [3.0], 1000, "too few points"),
        ([100, 200, 300], [np.nan, np.inf, -1.0], 1000, "too few points"),
        ([100, 200, 300, 400], [3.0, 2.9, 4.5, 5.0], 1000, "diverging"),
        ([100, 200, 300], [3.0, 2.9, 2.8], 0, "out of range"),
        ([100, 200], [3.0, 2.9, 2.8], 1000, "differ in length"),
    ],
)
def test_no_forecast_says_why(steps, losses, target, reason):
    fc = forecast(steps, losses, target_step=target)
    assert not fc.ok and reason in fc.reason
    assert math.isnan(fc.loss) and fc.law == "none"
    assert all(np.isnan(v).all() for v in fc.predict([10, 20]))


def test_bad_schedule_falls_back_and_says_so():
    steps, loss = power_curve()
    fc = forecast(steps[:20], loss[:20], target_step=20_000, lr=[np.nan, np.nan])
    assert fc.ok and fc.law == "power"
    assert any("unusable" in note for note in fc.notes)


finite = st.floats(min_value=-1e30, max_value=1e30, allow_nan=False, allow_infinity=False)
anything = st.one_of(finite, st.just(float("nan")), st.just(float("inf")), st.floats(1e-30, 1e-20),
                     st.floats(1e20, 1e30))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.tuples(st.integers(-10, 10_000), anything), min_size=0, max_size=40),
    target=st.integers(-5, 50_000),
    lr=st.one_of(st.none(), st.lists(anything, min_size=0, max_size=30),
                 st.tuples(st.lists(finite, min_size=1, max_size=5), st.lists(anything, min_size=1, max_size=5))),
    scale=st.sampled_from([1e-12, 1.0, 1e12]),
)
def test_never_raises_and_answers_with_a_number_or_a_reason(data, target, lr, scale):
    steps = [s for s, _ in data]
    losses = [v * scale for _, v in data]
    if isinstance(lr, tuple) and len(lr[0]) != len(lr[1]):
        n = min(len(lr[0]), len(lr[1]))
        lr = (lr[0][:n], lr[1][:n])
    fc = forecast(steps, losses, target_step=target, lr=lr)
    assert isinstance(fc, Forecast)
    if fc.ok:
        assert fc.reason is None
        assert all(math.isfinite(v) for v in (fc.loss, fc.low, fc.high, fc.asymptote))
        assert fc.low <= fc.loss <= fc.high
    else:
        assert isinstance(fc.reason, str) and fc.reason


@settings(max_examples=60, deadline=None)
@given(
    noise=st.floats(0.0, 0.05),
    n=st.integers(1, 60),
    seed=st.integers(0, 2 ** 31),
    alpha=st.floats(0.1, 1.5),
)
def test_noisy_power_laws_give_finite_forecasts(noise, n, seed, alpha):
    rng = np.random.default_rng(seed)
    steps = np.sort(rng.choice(np.arange(10, 5000), size=n, replace=False))
    losses = (2.0 + 3.0 * (steps / 100.0) ** (-alpha)) * np.exp(noise * rng.standard_normal(n))
    fc = forecast(steps, losses, target_step=20_000)
    if n < 2:
        assert not fc.ok
    else:
        assert fc.ok or "diverging" in fc.reason
        if fc.ok:
            assert 0 < fc.low <= fc.loss <= fc.high


def test_huge_histories_and_schedules_stay_bounded():
    steps = np.arange(1, 4_000_001, 1000)
    losses = 2.0 + 5.0 * steps ** -0.3
    fc = forecast(steps, losses, target_step=8_000_000, lr=(np.array([0, 8_000_000]), np.array([1.0, 0.0])))
    assert fc.ok and fc.n_points <= 400
    assert any("pooled" in note for note in fc.notes)


def test_a_short_steep_history_gets_a_wider_interval_than_a_long_one():
    """The misspecification term grows with the trend still to be extrapolated: from 10% of a
    run the interval is wider, relative to the loss, than from 80% of it."""
    steps, loss = power_curve()
    rng = np.random.default_rng(0)
    loss = loss * (1 + 0.001 * rng.standard_normal(len(loss)))
    short = forecast(steps[steps <= 2000], loss[steps <= 2000], target_step=20_000)
    long = forecast(steps[steps <= 16_000], loss[steps <= 16_000], target_step=20_000)
    assert short.ok and long.ok
    assert (short.high - short.low) / short.loss > 2 * (long.high - long.low) / long.loss
    # and the confidence level scales the interval
    wide = forecast(steps[steps <= 2000], loss[steps <= 2000], target_step=20_000, confidence=0.95)
    assert wide.low < short.low and wide.high > short.high


def rising_curve(seed=0):
    """Falls as a power law, then rises linearly after step 800 (a training set too small)."""
    steps = np.arange(50, 2050, 50)
    loss = 2.0 + 3.0 * (steps / 50.0) ** -0.7 + 0.0004 * np.maximum(steps - 800, 0)
    return steps, loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))


def test_a_validation_loss_that_turned_up_is_forecast_to_keep_rising():
    steps, loss = rising_curve()
    fc = forecast(steps, loss, target_step=4000)
    assert fc.ok and fc.law == "overfitting"
    assert fc.loss > loss[-1]  # follows the rise, instead of a power law's fall
    assert 0 < fc.low <= fc.loss <= fc.high
    assert math.isnan(fc.asymptote) and fc.params["best_step"] == 800
    assert any("overfitting" in note for note in fc.notes)
    mid, low, high = fc.predict([steps[-1], 3000, 4000])
    assert mid[0] < mid[1] < mid[2]


def test_a_rise_under_a_decaying_schedule_is_held_whichever_clock_it_keeps():
    """Under a cosine schedule the rise may go on with the steps (this one does) or slow with the
    learning rate, as the rising law assumes: the interval reaches up to the step clock's rise
    (before, [2.88, 3.12] against a final of 3.80), and its low end stays the area clock's."""
    T = 5000
    steps = np.arange(50, T + 1, 50)
    lr = 0.5 * (1 + np.cos(np.pi * np.arange(T + 1) / T))  # cosine to 0 at T
    loss = 2.0 + 3.0 * (steps / 50.0) ** -0.7 + 0.0004 * np.maximum(steps - 800, 0)
    for seed in range(3):
        noisy = loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))
        for cut in (1500, 3000):
            seen = steps <= cut
            fc = forecast(steps[seen], noisy[seen], lr=lr, target_step=T)
            assert fc.ok and fc.law == "overfitting"
            assert fc.loss < loss[-1]  # the learning-rate clock slows the rise: the median is low...
            assert fc.low <= loss[-1] <= fc.high, (seed, cut, fc.low, fc.high)  # ...the interval holds
            assert fc.low > noisy[seen][-1]  # the step clock widens the interval upwards only
            assert any("measured in steps it would reach" in note for note in fc.notes)
    # without a schedule both clocks are one: the interval is the rise's own, narrower
    seen = steps <= 1500
    scheduled = forecast(steps[seen], loss[seen], lr=lr, target_step=T)
    plain = forecast(steps[seen], loss[seen], target_step=T)
    assert plain.ok and plain.law == "overfitting"
    assert plain.high - plain.low < 0.8 * (scheduled.high - scheduled.low)
    assert not any("measured in steps" in note for note in plain.notes)


def test_a_drop_larger_than_the_prior_is_read_from_the_data_once_half_the_decay_is_seen():
    """A cosine decay realising a drop of 20% of the loss per unit of decay (like cpu_gpt's, 3×
    the drop prior's mean): from 60% and 80% of the run, with most of the decay seen, the drop the
    data show decides (before, the prior held the forecast +1.5% high at 60%)."""
    T = 6000
    t = np.arange(T + 1)
    eta = np.where(t < 100, (t + 1) / 100, 0.5 * (1 + np.cos(np.pi * (t - 100) / (T - 100))))
    steps = np.arange(100, T + 1, 50)
    area = lr_area(eta)
    loss = 1.0 + 2.0 * (area[steps] / area[100]) ** -0.4 - 0.3 * multi_power_drop(eta, steps, 0.11, 0.59, 0.64)
    for seed in range(3):
        noisy = loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))
        for cut in (0.6, 0.8):
            seen = steps <= cut * T
            fc = forecast(steps[seen], noisy[seen], lr=eta, target_step=T)
            assert fc.ok and abs(fc.loss / loss[-1] - 1) < 0.01, (seed, cut, fc.loss / loss[-1] - 1)
            assert fc.low <= loss[-1] <= fc.high


def test_a_forecast_before_the_cool_down_has_the_interval_of_forecasts_made_before_a_decay():
    """A WSD run whose linear cool-down (the last quarter) realises 0.6× the drop prior's mean
    (modded-nanogpt track 1's are the smallest): forecast from 50-70% of the run, before the
    cool-down, the drop is the prior's alone. Priors with an interval calibrated on such forecasts
    (interval_z_before_decay; the defaults have none since benchmarks/studies/interval_score.py)
    widen it there and hold the final at least as often as the defaults; at the steps on the way
    down it widens gradually, and once the cool-down is under way both are the same."""
    T, start = 6000, 4500
    t = np.arange(T + 1)
    eta = np.where(t < 100, (t + 1) / 100, np.where(t < start, 1.0, 1 - (t - start) / (T - start)))
    steps = np.arange(100, T + 1, 50)
    area = lr_area(eta)
    loss = 1.0 + 2.0 * (area[steps] / area[100]) ** -0.4 - 0.05 * multi_power_drop(eta, steps, 0.11, 0.59, 0.64)
    pooled = DEFAULT_PRIORS  # learnt without the split (learning.SPLIT_BEFORE_DECAY): one calibration
    # priors learnt with the split (as tools/learn_priors.py learnt them before the interval-score study)
    split = dataclasses.replace(DEFAULT_PRIORS, interval_z_before_decay=(-3.6035, 2.3463))
    held = {"before a decay": 0, "all": 0}
    for seed in range(5):
        noisy = loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))
        for cut in (0.5, 0.6, 0.7):
            seen = steps <= cut * T
            fc = forecast(steps[seen], noisy[seen], lr=eta, target_step=T, priors=split)
            plain = forecast(steps[seen], noisy[seen], lr=eta, target_step=T, priors=pooled)
            assert fc.ok and fc.loss == plain.loss and fc.high - fc.low > plain.high - plain.low
            assert any(re.search(r"decay begins at step 45\d\d, after the last step seen", n) for n in fc.notes), fc.notes
            held["before a decay"] += fc.low <= loss[-1] <= fc.high
            held["all"] += plain.low <= loss[-1] <= plain.high
            # the steps before the cool-down are not across it: there the two are the same; on the
            # way down the band widens with the share of the decay reached
            assert np.allclose(fc.predict([4000])[1:], plain.predict([4000])[1:])
            (_, lo, hi), (_, plo, phi) = fc.predict([5250, T]), plain.predict([5250, T])
            assert 1 < (hi[0] - lo[0]) / (phi[0] - plo[0]) < (hi[1] - lo[1]) / (phi[1] - plo[1])
    assert held["before a decay"] >= max(13, held["all"]), held
    seen = steps <= 0.8 * T  # the cool-down under way: one calibration
    after, plain = (forecast(steps[seen], loss[seen], lr=eta, target_step=T, priors=p) for p in (split, pooled))
    assert (after.low, after.high) == (plain.low, plain.high)
    assert not any("decay begins" in note for note in after.notes)


def test_a_rise_while_the_planned_learning_rate_rises_is_not_called_overfitting():
    """Cosine cycles with warm restarts: the loss a decay bought is given back as the rate rises
    again (Luo et al.'s drop term turns with the rate), so the loss rises with no overfitting."""
    T = 1000
    t = np.arange(T + 1)
    lr = np.minimum(1.0, (t + 1) / 20) * (0.55 + 0.45 * np.cos(2 * np.pi * t / 250))
    loss = (2.0 + 3.0 * (lr_area(lr) + 5) ** -0.4) * (1 - 0.08 * multi_power_drop(lr, t, 1.1, 0.59, 0.64))
    steps = np.arange(20, 501, 20)  # into the second rise: 0.1 above the best (step 380)
    y = loss[steps] + 0.002 * np.sin(1.7 * steps)
    assert y[-1] - y.min() > 0.05
    fc = forecast(steps, y, lr=lr, target_step=T)
    assert fc.ok and fc.law == "multi-power"
    assert any("rose too (a restart)" in note for note in fc.notes)
    assert fc.low <= loss[T] <= fc.high  # 2.235, well below the 2.31 of step 500: the next cycle brings it down
    # the same history without the schedule is a rise with nothing to explain it
    assert forecast(steps, y, target_step=T).law == "overfitting"


def test_noise_around_a_falling_curve_is_not_called_overfitting():
    steps, loss = power_curve()
    for seed in range(5):
        noisy = loss * (1 + 0.003 * np.random.default_rng(seed).standard_normal(len(loss)))
        fc = forecast(steps[steps <= 8000], noisy[steps <= 8000], target_step=20_000)
        # this power law is nearly straight on log axes over the history: through the noise its
        # hindcast may read it as log-linear (3 of these 5 seeds), which must cost little and stay honest
        assert fc.ok and fc.law in ("power", "log-linear"), (seed, fc.law)
        assert abs(fc.loss / loss[-1] - 1) < 0.025 and fc.low <= loss[-1] <= fc.high, (seed, fc.loss, fc.low, fc.high)


def test_a_loss_falling_log_linearly_is_forecast_by_the_log_linear_law():
    """A loss that falls by the same amount per doubling of the steps (small byte-level models far
    from saturation do, for their whole run) is bent too early by a saturating power law: its
    hindcast shows it, and the log-linear law takes over, with no asymptote."""
    steps = np.arange(100, 10_001, 100)
    loss = 3.0 - 0.25 * np.log(steps / 100.0)
    seen = steps <= 2000
    for seed in range(3):
        noisy = loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))
        fc = forecast(steps[seen], noisy[seen], target_step=10_000)
        assert fc.ok and fc.law == "log-linear" and fc.exponent == 0.0, (seed, fc.law, fc.notes)
        assert math.isnan(fc.asymptote) and any("log-linear law" in n for n in fc.notes)
        assert fc.loss == pytest.approx(loss[-1], rel=0.02) and fc.low <= loss[-1] <= fc.high
        mid, low, high = fc.predict([2000, 5000, 10_000])
        assert mid[0] > mid[1] > mid[2] and np.all(low <= mid) and np.all(mid <= high)
    # the power law alone (what forecast() gave before the log-linear law) stays far above
    from scaling_callback.core.forecast.fit import fitted_posterior
    power = fitted_posterior(steps[seen], noisy[seen], 10_000, None, DEFAULT_PRIORS, [], hindcast=False)
    assert power.median(np.array([10_000.0]))[0] > loss[-1] * 1.05


def forecast_log_linear_validated(n_evals, cutoff, seed, T=10_000):
    """The forecast of a noisy log-linear curve validated n_evals times a run (evenly spaced),
    from what is seen up to cutoff·T: (Forecast, the true final loss, points seen)."""
    steps = np.linspace(T / n_evals, T, n_evals).round().astype(int)
    loss = 3.0 - 0.25 * np.log(steps / 100.0)
    seen = steps <= cutoff * T
    noisy = loss * (1 + 0.002 * np.random.default_rng(seed).standard_normal(len(loss)))
    return forecast(steps[seen], noisy[seen], target_step=T), loss[-1], int(seen.sum())


def test_a_run_validated_rarely_still_gets_a_hindcast_and_an_honest_interval():
    """Twelve validations a run, forecast from the four up to 40%: too few precede the usual
    hindcast cutoff, so the hindcast reaches less far instead of not at all. Without it the
    interval lost its misspecification term and missed this log-linear curve (which the
    saturating power law bends too early) in 3 of these 5 seeds."""
    for seed in range(5):
        fc, final, seen = forecast_log_linear_validated(12, 0.4, seed)
        assert seen == 4 and fc.ok and fc.low <= final <= fc.high, (seed, fc.loss, fc.low, fc.high)


def test_a_run_validated_25_times_is_covered_where_its_last_points_lie_far_apart():
    """From 5 and 10 points (20 and 40% of a run validated 25 times) the last three lie far apart:
    the hindcast's error is read at each one's own step too (their median loss stands for an
    earlier step than the last). Reading it only against their median covered this curve in 8
    and 9 of these 10 seeds under the earlier, wider interval; an 80% interval holds it in at least
    16 of these 20 forecasts."""
    held = 0
    for cut in (0.2, 0.4):
        for seed in range(10):
            fc, final, _ = forecast_log_linear_validated(25, cut, seed)
            assert fc.ok
            held += fc.low <= final <= fc.high
    assert held >= 16, held


def test_three_points_are_too_few_for_a_hindcast_so_the_two_laws_disagreement_stands_in():
    """Three validations (20% of a run validated 15 times): no hindcast can be fitted, and the
    interval carries the power and log-linear laws' disagreement at the target in its place.
    Without it (g_h = 0) this log-linear curve fell below the interval in 5 of these 5 seeds."""
    for seed in range(5):
        fc, final, seen = forecast_log_linear_validated(15, 0.2, seed)
        assert seen == 3 and fc.ok and fc.low <= final <= fc.high, (seed, fc.loss, fc.low, fc.high)
        assert fc.high - fc.low > 0.1 * fc.loss  # honest: three points cannot tell the laws apart


def test_a_log_linear_law_carried_past_zero_gives_way_to_the_power_law():
    steps = np.arange(100, 2001, 100)
    loss = (3.0 - 0.5 * np.log(steps / 100.0)) * (1 + 0.002 * np.random.default_rng(0).standard_normal(len(steps)))
    assert forecast(steps, loss, target_step=20_000).law == "log-linear"  # 0.35 at 20,000
    far = forecast(steps, loss, target_step=60_000)  # the line reaches 0 at about 40,000
    assert far.ok and far.law == "power" and far.loss > 0 and far.low > 0


def test_the_log_linear_law_with_a_decaying_schedule_realises_the_drop():
    lr = wsd_schedule(T=10_000, warm=200, decay_from=4_000, floor=0.0)
    steps = np.arange(100, 10_001, 100)
    eta = normalized_schedule(lr)
    area = lr_area(eta)[steps]
    # log-linear in the learning-rate area, plus the multi-power law's drop (Luo et al. 2025)
    loss = 3.0 - 0.25 * np.log(area / area[0]) - 0.1 * multi_power_drop(eta, steps, 0.11, 0.59, 0.64)
    seen = steps <= 4000  # up to the decay: the drop still to come is the prior's
    fc = forecast(steps[seen], loss[seen], target_step=10_000, lr=lr)
    assert fc.ok and fc.law == "log-linear" and fc.params["B"] > 0
    assert fc.loss == pytest.approx(loss[-1], rel=0.03) and fc.low <= loss[-1] <= fc.high


CURVES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "curves")


@pytest.mark.parametrize("source", ["multipower_law", "gemstones", "modded_nanogpt_track1", "modded_nanogpt_track2",
                                    "cpu_gpt"])
def test_the_80_percent_interval_covers_real_final_losses_at_least_78_percent_of_the_time(source):
    """Every development source, with the shared scorer's rules: a run counts when its last
    validation is within 1% of its planned end; cutoffs 20/40/60/80%. The interval is
    calibrated so that no development source falls below 80% (lr_scheduling, the sixth, is
    left to benchmarks/forecast_accuracy.py: 234 runs are too slow for a test)."""
    with open(os.path.join(CURVES, "runs.csv"), newline="") as fh:
        planned = {r["run_id"]: float(r["planned_steps"]) for r in csv.DictReader(fh)}
    hits = []
    for run_id, curve in read_curves_csv(os.path.join(CURVES, source + ".csv")).items():
        steps, losses = curve.observed()
        if run_id not in planned or len(steps) < 6 or abs(steps[-1] - planned[run_id]) > 0.01 * planned[run_id]:
            continue
        for cut in (0.2, 0.4, 0.6, 0.8):
            seen = steps <= cut * steps[-1]
            if seen.sum() < 3:
                continue
            fc = forecast(steps[seen], losses[seen], target_step=int(steps[-1]), lr=curve.lr_knots())
            assert fc.ok, fc.reason
            hits.append(fc.low <= losses[-1] <= fc.high)
    assert len(hits) >= 40
    assert np.mean(hits) >= 0.78


def test_mixture_quantiles_invert_the_mixture_cdf():
    """The forecast is a mixture's median and its band the mixture's quantiles: each quantile
    must be where the mixture's CDF (a dense sum of normal CDFs) reaches its level, for weights
    shared by every column and one mixture per column, with zero-weight components ignored."""
    from scaling_callback.core.forecast.normal import mixture_quantiles, norm_cdf

    rng = np.random.default_rng(0)
    means = rng.normal(2.0, 0.3, size=(5, 3))
    sds = rng.uniform(0.01, 0.2, size=(5, 3))
    probs = (0.1, 0.5, 0.9)
    for weights in (np.array([0.1, 0.4, 0.0, 0.3, 0.2]), rng.dirichlet(np.ones(5), size=3).T):
        q = mixture_quantiles(weights, means, sds, probs)
        w = np.broadcast_to(weights[:, None] if weights.ndim == 1 else weights, means.shape)
        for i, p in enumerate(probs):
            cdf = np.sum(w * norm_cdf((q[i][None, :] - means) / sds), axis=0)
            assert np.allclose(cdf, p, atol=1e-9)
