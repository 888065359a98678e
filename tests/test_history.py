"""The history of observations: columns and its plain-number checkpoint form."""
import math

import numpy as np
import pytest

from scaling_callback.history import History, Observation


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
