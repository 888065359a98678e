"""The advice rules: numbers against the papers' formulas, behaviour on real and synthetic curves."""
import csv
import math
import os
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scaling_callback.core.advice import (
    ChinchillaReference, DataLimitAdvice, EfficientPoint, OverfittingAdvice, RepetitionAdvice, StopAdvice,
    advice_markdown, chinchilla_reference, data_limit, final_decay, kaplan_efficient_point,
    observed_overfitting, recommended_stop, repeated_data, robust_noise,
)

CURVES = os.path.join(os.path.dirname(__file__), "..", "data", "curves")


# ----------------------------------------------------------------------------- data limit

def test_data_limit_margin_and_warning():
    n = 1e9
    limit = 5e3 * n ** 0.74
    short = data_limit(n, 0.5 * limit)
    assert isinstance(short, DataLimitAdvice)
    assert short.min_unique_tokens == pytest.approx(limit, rel=1e-12)
    assert short.tokens_to_data_limit == pytest.approx(-0.5 * limit)
    assert short.warning and "short of Kaplan's data limit" in short.message
    room = data_limit(n, 3 * limit)
    assert not room.warning and room.tokens_to_data_limit == pytest.approx(2 * limit)
    assert room.overfitting_penalty < short.overfitting_penalty


@pytest.mark.parametrize("n", [1e6, 1e8, 1e10, 1e12])
def test_eq_4_3_at_the_eq_4_4_limit_is_the_two_percent_seed_noise(n):
    # Kaplan derive eq. 4.4 from eq. 4.3 by asking δL ≲ 0.02: the two must agree over decades of N
    assert data_limit(n, 5e3 * n ** 0.74).overfitting_penalty == pytest.approx(0.02, abs=0.003)


def test_data_limit_rejects_bad_input():
    for bad in [(0, 1e9), (1e9, -1), (float("nan"), 1e9), (1e9, float("inf"))]:
        with pytest.raises(ValueError):
            data_limit(*bad)


# ----------------------------------------------------------------------------- repeated data

def test_repeated_data_effective_tokens_by_eq_5():
    u = 1e9
    six = repeated_data(6 * u, u)
    assert isinstance(six, RepetitionAdvice)
    assert six.epochs == pytest.approx(6)
    r_star = 15.387756  # Muennighoff et al. 2023, released fit
    assert six.effective_tokens == pytest.approx(u * (1 + r_star * (1 - math.exp(-5 / r_star))), rel=1e-12)
    assert six.marginal_value == pytest.approx(math.exp(-5 / r_star))
    # the data term of their law, B/D'^β − B/D^β with B = e^7.3049974, β = 0.3526596
    B, beta = math.exp(7.3049974), 0.3526596
    assert six.loss_penalty == pytest.approx(B * (six.effective_tokens ** -beta - (6 * u) ** -beta), rel=1e-12)
    assert 0 < six.loss_penalty < 0.1
    assert six.paying_epochs == pytest.approx(1 + r_star * math.log(2))  # a pass worth half a fresh one
    assert six.warning and "past the ~4 epochs" in six.message and "88%" in six.message
    four = repeated_data(4 * u, u)
    assert not four.warning and four.effective_fraction > 0.9  # "almost as good as unique data"
    assert repeated_data(4.01 * u, u).warning
    fresh = repeated_data(0.3 * u, u)
    assert fresh.effective_fraction == 1.0 and fresh.marginal_value == 1.0 and not fresh.warning
    assert fresh.loss_penalty == 0.0


@settings(max_examples=200, deadline=None)
@given(epochs=st.floats(1e-3, 1e3), more=st.floats(1.0001, 10))
def test_repeated_data_worth_is_bounded_and_monotone(epochs, more):
    u = 1e8
    a, b = repeated_data(epochs * u, u), repeated_data(epochs * more * u, u)
    assert 0 < a.effective_fraction <= 1 and a.effective_tokens <= a.tokens * (1 + 1e-12)
    assert a.effective_tokens <= u * (1 + 15.387756) * (1 + 1e-12)  # repeated data is worth at most 16.4 epochs
    assert b.effective_tokens >= a.effective_tokens and b.effective_fraction <= a.effective_fraction + 1e-12
    assert a.loss_penalty >= 0 and b.loss_penalty >= a.loss_penalty - 1e-12  # more passes never cost less


# ----------------------------------------------------------------------------- noise and overfitting

def test_robust_noise_reads_the_scatter_not_the_trend():
    rng = np.random.default_rng(1)
    s = np.linspace(100, 50_000, 400)
    trend = 2.0 + 8.0 * s ** -0.3
    assert robust_noise(trend) < 1e-4
    noisy = trend + rng.normal(0, 0.02, s.size)
    assert robust_noise(noisy) == pytest.approx(0.02, rel=0.15)
    spiked = noisy.copy()
    spiked[::50] += 1.0  # a few loss spikes barely move it
    assert robust_noise(spiked) == pytest.approx(0.02, rel=0.2)
    assert math.isnan(robust_noise([1.0, 2.0]))


def _tiny_overfitting_run():
    """A real little network memorising 48 noisy samples: validation falls, then rises."""
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)

    def data(n):
        x = torch.randn(n, 4, generator=g)
        return x, x[:, :2].sum(1, keepdim=True).sin() + 0.3 * torch.randn(n, 1, generator=g)

    (xt, yt), (xv, yv) = data(48), data(256)
    net = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64),
                              torch.nn.Tanh(), torch.nn.Linear(64, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    steps, val, train = [], [], []
    for i in range(250):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(xt), yt)
        loss.backward()
        opt.step()
        if (i + 1) % 10 == 0:
            with torch.no_grad():
                steps.append(i + 1)
                val.append(torch.nn.functional.mse_loss(net(xv), yv).item())
                train.append(loss.item())
    return np.array(steps), np.array(val), np.array(train)


def test_real_overfitting_is_seen_with_its_start():
    steps, val, train = _tiny_overfitting_run()
    best = int(steps[np.argmin(val)])
    result = observed_overfitting(steps, val, train_steps=steps, train_loss=train)
    assert isinstance(result, OverfittingAdvice)
    assert result.overfitting and result.warning and result.basis == "train loss"
    assert result.best_step == best and best < result.since_step < steps[-1]
    assert f"Overfitting since step {result.since_step}" in result.message
    # before the validation loss turned, nothing is flagged
    early = steps <= best
    assert not observed_overfitting(steps[early], val[early], train_steps=steps[early],
                                    train_loss=train[early]).overfitting


def test_rising_train_loss_means_instability_not_overfitting():
    steps, val, train = _tiny_overfitting_run()
    rising_train = train + np.linspace(0, 1, train.size)
    result = observed_overfitting(steps, val, train_steps=steps, train_loss=rising_train)
    assert not result.overfitting and "unstable" in result.message


def test_forecast_basis_and_validation_only():
    s = np.arange(1, 61) * 100.0
    val = 3.0 + 50 * s ** -0.5 + np.where(s > 3000, (s - 3000) * 2e-4, 0.0)
    falling = 3.0 + 50 * s ** -0.5  # a forecast that says the loss should still fall
    by_forecast = observed_overfitting(s, val, forecast_steps=s, forecast_loss=falling)
    assert by_forecast.overfitting and by_forecast.basis == "forecast"
    flat_forecast = observed_overfitting(s, val, forecast_steps=s, forecast_loss=np.full(s.size, 3.0))
    assert not flat_forecast.overfitting and "does not predict a fall" in flat_forecast.message
    alone = observed_overfitting(s, val)
    assert alone.overfitting and alone.basis == "validation only"


def test_a_rise_while_the_planned_rate_rose_is_the_schedules_not_overfitting():
    s = np.arange(1, 61) * 100.0
    val = 3.0 + 50 * s ** -0.5 + np.where(s > 3000, (s - 3000) * 2e-4, 0.0)
    falling = 3.0 + 50 * s ** -0.5
    restart = ([0, 3000, 3500, 6000], [1.0, 0.1, 1.0, 0.1])  # decayed to 0.1, then back up from step 3000
    result = observed_overfitting(s, val, forecast_steps=s, forecast_loss=falling, lr_steps=restart[0], lr=restart[1])
    assert not result.overfitting and result.basis == "learning rate"
    assert "the planned learning rate rose since then (a restart)" in result.message
    # the rate only falling (or rising by less than 5% of its peak): the rise is overfitting again
    for knots in (([0, 6000], [1.0, 0.1]), ([0, 3000, 6000], [1.0, 0.1, 0.14])):
        assert observed_overfitting(s, val, forecast_steps=s, forecast_loss=falling, lr_steps=knots[0],
                                    lr=knots[1]).overfitting
    # a rise of the rate before the loss's best, a warm-up, explains nothing
    warm = ([0, 500, 6000], [0.0, 1.0, 0.1])
    assert observed_overfitting(s, val, lr_steps=warm[0], lr=warm[1]).overfitting


def test_noisy_plateau_raises_no_alarm():
    s = np.arange(1, 201) * 50.0
    alarms = 0
    for seed in range(50):
        val = 2.5 + np.random.default_rng(seed).normal(0, 0.01, s.size)
        alarms += observed_overfitting(s, val, min_rise=0.0).overfitting
    assert alarms <= 1


def test_nan_skipped_and_too_few_points():
    s = np.arange(1, 31) * 10.0
    val = 2 + 1 / s
    val[[3, 7]] = np.nan
    result = observed_overfitting(s, val)
    assert result.n_skipped == 2 and "2 non-finite validation losses were skipped" in result.message
    few = observed_overfitting(s[:5], val[:5])
    assert not few.overfitting and "too few" in few.message
    with pytest.raises(ValueError, match="strictly increasing"):
        observed_overfitting(s[::-1], val)


def _real_runs(names):
    runs = defaultdict(list)
    for name in names:
        with open(os.path.join(CURVES, name)) as f:
            for row in csv.DictReader(f):
                if row["val_loss"]:
                    runs[row["run_id"]].append((int(row["step"]), float(row["val_loss"])))
    return {k: np.array(sorted(v)).T for k, v in runs.items()}


def test_no_false_alarm_on_real_single_epoch_runs():
    # single-epoch pre-training runs (MultiPowerLaw, modded-nanogpt) never overfit; check every 4th
    # point of each as if the run were there now
    runs = _real_runs(["multipower_law.csv", "modded_nanogpt_track1.csv", "modded_nanogpt_track2.csv"])
    assert len(runs) == 125
    for run, (s, v) in runs.items():
        for n in range(8, s.size + 1, 4):
            assert not observed_overfitting(s[:n], v[:n]).overfitting, (run, n)


# ----------------------------------------------------------------------------- stop point

E, A, ALPHA = 2.0, 30.0, 0.4


def _power(s):
    return E + A * s ** -ALPHA


def test_stop_point_of_a_power_law_matches_the_closed_form():
    end, delta = 100_000, 0.01
    s = np.arange(1000, end + 1, 10)
    result = recommended_stop(s, _power(s), end, delta)
    assert isinstance(result, StopAdvice)
    exact = (delta / A + end ** -ALPHA) ** (-1 / ALPHA)  # A(s^-α − end^-α) = δ
    assert exact - 10 <= result.stop_step <= exact + 10
    assert result.improvement_after_stop < delta and result.warning
    assert result.predicted_final_loss == pytest.approx(_power(end))
    assert f"Stopping at step {result.stop_step}" in result.message


def test_stop_now_and_keep_going():
    s = np.arange(50_000, 100_001, 100)
    now = recommended_stop(s, _power(s), 100_000, 0.1)
    assert now.stop_step == 50_000 and now.message.startswith("Stop now")
    keep = recommended_stop(s, _power(s), 100_000, 1e-6)
    assert keep.stop_step >= 99_900
    on_end = recommended_stop(s, _power(s), 100_000, 1e-9)
    assert on_end.stop_step == 100_000 and not on_end.warning and "Keep training" in on_end.message


def test_forecast_that_turns_up_stops_at_its_minimum():
    s = np.arange(0, 10_001, 100)
    curve = 2.0 + ((s - 6000) / 4000.0) ** 2  # predicted overfitting: best at 6000
    result = recommended_stop(s, curve, 10_000, 1e-3)
    assert 5_000 < result.stop_step <= 6_000


def test_final_decay_found_in_common_schedules():
    s = np.arange(0, 10_001)
    constant = np.where(s < 500, s / 500, 1.0)
    assert final_decay(s, constant, 10_000) is None
    wsd = np.where(s < 8000, 1.0, 1 - (s - 8000) / 2000)
    d = final_decay(s, wsd, 10_000)
    assert d.start_step == 8000 and d.length == 2000 and d.final_lr == 0.0
    warm_cos = np.where(s < 500, s / 500, 0.5 * (1 + np.cos(np.pi * (s - 500) / 9500)))
    assert final_decay(s, warm_cos, 10_000).start_step == 500
    steps_drop = np.where(s < 6000, 1.0, 0.1)
    assert final_decay(s, steps_drop, 10_000).start_step == 5999


def test_wsd_run_is_told_where_to_start_its_decay():
    end, decay_len, delta = 100_000, 20_000, 0.01
    d = end - decay_len
    s = np.arange(10_000, end + 1, 50)
    lr = np.where(s <= d, 1e-3, 1e-3 * (end - s) / decay_len)
    curve = _power(s) - 0.15 * np.clip((s - d) / decay_len, 0, 1)  # the cool-down's drop at the end
    result = recommended_stop(s, curve, end, delta, lr_steps=s, lr=lr)
    assert result.decay_start_step == d and result.decay_length == decay_len
    exact = (delta / A + d ** -ALPHA) ** (-1 / ALPHA)  # stable-phase gain below δ
    assert exact - 50 <= result.recommended_decay_start <= exact + 50
    assert result.recommended_end == result.recommended_decay_start + result.decay_length
    assert result.stop_step > d  # cutting without a decay only pays inside the decay
    assert result.warning and result.message.startswith("Start the final learning-rate decay at step")


def test_cosine_already_decaying_gives_no_decay_start():
    end = 50_000
    s = np.arange(20_000, end + 1, 100)
    lr = 0.5 * (1 + np.cos(np.pi * s / end))
    result = recommended_stop(s, _power(s), end, 0.01, lr_steps=s, lr=lr)
    assert result.decay_start_step is not None and result.recommended_decay_start is None
    assert "learning-rate decay under way" in result.message
    # "stop" advice never adds that the gain is still to come at the end of the decay (issue 29)
    now = recommended_stop(s, _power(s), end, 1.0, lr_steps=s, lr=lr)
    assert now.message.startswith("Stop now") and "where the gain is" not in now.message
    keep = recommended_stop(s, _power(s), end, 1e-9, lr_steps=s, lr=lr)
    assert keep.message.startswith("Keep training") and "the end of the decay is where the gain is" in keep.message


def test_stop_rejects_bad_input():
    s = np.arange(0, 1000, 10)
    with pytest.raises(ValueError, match="before the planned end"):
        recommended_stop(s, _power(s + 1), 5000, 0.01)
    with pytest.raises(ValueError, match="min_delta"):
        recommended_stop(s, _power(s + 1), 500, 0.0)
    with pytest.raises(ValueError, match="differ in length"):
        recommended_stop(s, _power(s[:-1] + 1), 500, 0.01)


# ----------------------------------------------------------------------------- context

def test_kaplan_efficient_point():
    s = np.arange(100, 400_001, 100)
    point = kaplan_efficient_point(s, _power(s), E)
    assert isinstance(point, EfficientPoint) and not point.warning
    assert point.target_loss == pytest.approx(1.1 * E)  # 1 + 0.076/0.76
    exact = (0.1 * E / A) ** (-1 / ALPHA)
    assert exact <= point.step < exact + 100
    assert point.message.startswith("For reference (Kaplan et al. 2020 App. B.5)")
    assert kaplan_efficient_point(s[:10], _power(s[:10]), E).step is None


def test_chinchilla_reference_is_labelled_context():
    ref = chinchilla_reference(1e8, 5e9)
    assert isinstance(ref, ChinchillaReference) and not ref.warning
    assert ref.reference_tokens == 2e9 and ref.planned_tokens_per_param == pytest.approx(50)
    assert ref.message.startswith("For reference (Hoffmann et al. 2022)")
    assert chinchilla_reference(1e8).planned_tokens is None


# ----------------------------------------------------------------------------- markdown

def test_markdown_puts_warnings_first():
    items = [chinchilla_reference(1e8), None, data_limit(1e9, 1e8), repeated_data(2e9, 1e9)]
    text = advice_markdown(items, step=1234)
    lines = text.splitlines()
    assert lines[0] == "### Training advice at step 1234"
    assert lines[2].startswith("- **Warning — Data limit:**")
    assert lines[3].startswith("- **Repeated data:**") and lines[4].startswith("- **Context: Chinchilla tokens per parameter:** For reference")
    assert all(a.message in text for a in items if a is not None)
    assert "No advice yet" in advice_markdown([])
    with pytest.raises(TypeError):
        advice_markdown(["not advice"])
