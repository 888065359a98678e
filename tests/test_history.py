"""The history of observations and forecasts: columns and their plain-value checkpoint form."""
import math

import numpy as np
import pytest

from scaling_callback.core.history import ForecastHistory, ForecastRecord, History, Observation


def test_columns_and_round_trip_keep_nan():
    history = History([Observation(10, 1280, 7.68e6, 3.5, math.nan), Observation(20, 2560, 1.536e7, 3.1, 3.2)])
    assert history.column("step").dtype == np.int64
    assert history.column("tokens").tolist() == [1280, 2560]
    state = history.state_dict()
    assert state["tokens"] == [1280, 2560] and all(type(v) is int for v in state["step"])
    restored = History.from_state_dict(state)
    assert list(restored)[1] == history[1]
    assert math.isnan(restored[0].train_loss)


def test_bad_state_and_field_raise():
    with pytest.raises(KeyError):
        History().column("loss")
    good = History([Observation(1, 2, 3.0, 4.0, 5.0)]).state_dict()
    with pytest.raises(ValueError, match="lacks"):
        History.from_state_dict({k: v for k, v in good.items() if k != "flops"})
    with pytest.raises(ValueError, match="different lengths"):
        History.from_state_dict(dict(good, step=[1, 2]))


def test_forecast_history_round_trip_and_nearest():
    nan = math.nan
    records = ForecastHistory([ForecastRecord(100, 0, nan, nan, nan, nan, nan, nan, False, "too few points"),
                               ForecastRecord(200, 1000, 2.5, 2.4, 2.6, 2.2, 0.5, 2.9, True, None),
                               ForecastRecord(500, 1000, 2.45, 2.4, 2.5, 2.2, 0.5, 2.6, True, None)])
    state = records.state_dict()
    assert state["ok"] == [False, True, True] and state["reason"] == ["too few points", None, None]
    restored = ForecastHistory.from_state_dict(state)
    assert list(restored)[1:] == list(records)[1:] and restored[0].reason == "too few points"
    assert restored.column("ok").dtype == bool and restored.column("target_step").dtype == np.int64
    assert records[1].optimistic_gain == pytest.approx(0.5)
    assert records.nearest(250).step == 200 and records.nearest(400).step == 500
    assert records.nearest(90).step == 200 and records.nearest(90, ok_only=False).step == 100
    assert ForecastHistory().nearest(10) is None
    with pytest.raises(TypeError, match="ForecastRecord"):
        records.append(Observation(1, 2, 3.0, 4.0, 5.0))
