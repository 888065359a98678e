"""tracking.assess: one validation's forecast, advice, logged numbers and text, without a Trainer."""
import math

import numpy as np
import pytest

from scaling_callback.core.history import History, Observation
from scaling_callback.core.assess import assess

REQUIRED = ("forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high", "forecast/asymptotic_loss",
            "forecast/exponent", "forecast/final_step", "advice/recommended_stop_step", "advice/overfitting",
            "advice/tokens_to_data_limit")


def _history(val, train=None, every=20):
    train = [math.nan] * len(val) if train is None else train
    return History(Observation((i + 1) * every, (i + 1) * every * 64, 1.0, v, t)
                   for i, (v, t) in enumerate(zip(val, train)))


def _power(steps):
    return 2.0 + 3.0 * np.asarray(steps, float) ** -0.5


def test_power_law_history_gives_every_tag_and_an_ordered_interval():
    steps = np.arange(20, 420, 20)
    history = _history(_power(steps) + 0.001 * np.sin(steps), train=_power(steps) - 0.1)
    a = assess(history, target_step=1000, n_params=1e5, unique_tokens=1e6, planned_tokens=64_000)
    assert a.record.ok and a.record.reason is None and a.record.step == 400 and a.record.target_step == 1000
    assert set(REQUIRED) <= set(a.metrics)
    m = a.metrics
    assert all(math.isfinite(v) for v in m.values())
    assert m["forecast/final_loss_low"] <= m["forecast/final_loss"] <= m["forecast/final_loss_high"]
    assert m["forecast/final_step"] == 1000 and 400 <= m["advice/recommended_stop_step"] <= 1000
    # the loss still falls from step 400 to 1000: the forecast says so, and is close to the truth
    assert m["forecast/final_loss"] < history[-1].val_loss
    assert m["forecast/final_loss"] == pytest.approx(_power(1000), abs=0.05)
    assert m["advice/overfitting"] == 0 and m["advice/tokens_to_data_limit"] < 0  # 1e6 < 5e3·N^0.74 = 2.5e7
    assert "**Forecast:** Loss at step 1000" in a.markdown and "Data limit" in a.markdown


def test_nonfinite_losses_are_skipped_and_counted():
    steps = np.arange(20, 420, 20)
    val = _power(steps)
    val[[3, 7]] = [math.nan, math.inf]
    a = assess(_history(val), target_step=1000)
    assert a.record.ok and a.metrics["forecast/points_skipped"] == 2
    assert "2 non-finite validation loss(es) skipped" in a.markdown


@pytest.mark.parametrize("val", [[3.0], [math.nan, math.nan, 3.0]])
def test_too_few_points_is_a_record_with_the_reason(val):
    a = assess(_history(val), target_step=1000)
    assert not a.record.ok and "too few points" in a.record.reason
    assert math.isnan(a.record.loss) and a.metrics["forecast/ok"] == 0
    assert "forecast/final_loss" not in a.metrics and "advice/recommended_stop_step" not in a.metrics
    assert "No forecast at step" in a.markdown


def test_rising_validation_with_falling_train_loss_is_overfitting():
    steps = np.arange(1, 31) * 20
    val = np.where(steps < 200, 3.0 - steps / 200, 2.0 + (steps - 200) / 300)
    a = assess(_history(val, train=3.0 - steps / 400), target_step=1000)
    assert a.metrics["advice/overfitting"] == 1 and a.metrics["advice/overfitting_since_step"] > 200
    assert "Overfitting since step" in a.markdown


def test_horizons_between_now_and_target_are_logged():
    steps = np.arange(20, 420, 20)
    a = assess(_history(_power(steps)), target_step=2000, horizons=(1000, 2000))
    assert a.metrics["forecast/loss_at_step_2000"] == pytest.approx(a.metrics["forecast/final_loss"], rel=1e-6)
    assert a.metrics["forecast/loss_at_step_2000"] < a.metrics["forecast/loss_at_step_1000"] < a.record.fitted_loss


def test_a_decaying_schedule_is_used():
    steps = np.arange(20, 420, 20)
    knots = (np.array([0, 50, 1000]), np.array([0.0, 1.0, 0.0]))  # warm-up, then linear decay to 0
    constant = assess(_history(_power(steps)), target_step=1000)
    decaying = assess(_history(_power(steps)), target_step=1000, lr=knots)
    assert decaying.record.ok and decaying.forecast.law != constant.forecast.law


def test_a_forecast_that_follows_a_rise_and_the_overfitting_advice_agree():
    """Without a train loss, the advice used to ask the forecast whether the loss should fall;
    a forecast that follows the rise (law "overfitting") found it by the same rule, so both
    say overfitting, and the text says rising rather than quoting an asymptote."""
    steps = np.arange(50, 2050, 50)
    val = (2.0 + 3.0 * (steps / 50.0) ** -0.7 + 0.0004 * np.maximum(steps - 800, 0))
    val = val * (1 + 0.002 * np.random.default_rng(0).standard_normal(len(val)))
    a = assess(_history(val, every=50), target_step=4000)
    assert a.forecast.law == "overfitting" and a.forecast.loss > val[-1]
    assert a.overfitting.overfitting and a.metrics["advice/overfitting"] == 1
    assert "rising since its best" in a.markdown and "asymptote nan" not in a.markdown


def test_a_log_linear_forecast_says_no_asymptote_in_sight():
    steps = np.arange(50, 1050, 50)
    val = (3.0 - 0.25 * np.log(steps / 50.0)) * (1 + 0.002 * np.random.default_rng(1).standard_normal(len(steps)))
    a = assess(_history(val, every=50), target_step=5000)
    assert a.forecast.law == "log-linear" and math.isnan(a.forecast.asymptote)
    assert "no asymptote in sight" in a.markdown and "asymptote nan" not in a.markdown
