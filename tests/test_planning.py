"""The planned run: its end step from Trainer settings, horizons, and the schedule as knots."""
import math

import lightning.pytorch as L
import numpy as np
import pytest
from torch.utils.data import DataLoader

from scaling_callback import ScalingLawCallback
from scaling_callback.core.planning import (check_horizons, compress_schedule, horizon_steps, planned_end_step,
                                       schedule_before)
from tiny_models import CurveModule, random_tokens, trainer_kwargs


def test_planned_end_is_the_first_limit_reached():
    assert planned_end_step(500, -1, 10) == 500
    assert planned_end_step(-1, 3, 10, accumulate_grad_batches=3) == 12  # ceil(10/3) = 4 steps per epoch
    assert planned_end_step(10, 3, 10, accumulate_grad_batches=3) == 10
    assert planned_end_step(100, 3, 10, accumulate_grad_batches=3) == 12
    assert planned_end_step(-1, 3, math.inf) is None  # epochs of unknown length
    assert planned_end_step(-1, -1, 10) is None
    assert planned_end_step(None, None, 10) is None
    assert planned_end_step(200, 3, math.inf) == 200
    with pytest.raises(ValueError, match="accumulate_grad_batches"):
        planned_end_step(10, 1, 10, accumulate_grad_batches=0)


@pytest.mark.parametrize("settings", [dict(max_epochs=3, accumulate_grad_batches=3),
                                      dict(max_epochs=5, max_steps=9, accumulate_grad_batches=2),
                                      dict(max_epochs=2, limit_train_batches=7)])
def test_planned_end_is_where_a_real_trainer_stops(tmp_path, settings):
    callback = ScalingLawCallback(forecast=True)
    trainer = L.Trainer(callbacks=[callback], logger=False, **trainer_kwargs(tmp_path, limit_val_batches=1, **settings))
    trainer.fit(CurveModule(lambda step, rank: 3.0), DataLoader(random_tokens(n_items=20, n_ctx=4), batch_size=2),
                DataLoader(random_tokens(n_items=2, n_ctx=4), batch_size=2))
    assert callback.planned_end == trainer.global_step


def test_horizons_ahead_in_steps_and_tokens():
    assert horizon_steps([100, 500, 1000], "steps", step=100, tokens=0) == (500, 1000)
    # 64 tokens per step so far: 64_000 tokens is step 1000
    assert horizon_steps([6_400, 64_000], "tokens", step=50, tokens=3_200) == (100, 1000)
    assert horizon_steps([64_000], "tokens", step=0, tokens=0) == ()
    assert horizon_steps([10], "steps", step=10, tokens=0) == ()
    assert check_horizons([1000, 200], "steps") == (200.0, 1000.0)
    assert check_horizons(5e9, "tokens") == (5e9,)
    for bad in ([], [0], [math.inf], ["x"]):
        with pytest.raises(ValueError, match="horizons"):
            check_horizons(bad, "steps")
    with pytest.raises(ValueError, match="horizon_unit"):
        check_horizons([1], "epochs")


def test_compress_schedule_is_exact_for_linear_pieces_and_close_for_cosine():
    steps = np.arange(10_001)
    wsd = np.interp(steps, [0, 500, 8_000, 10_000], [0.0, 3e-4, 3e-4, 3e-5])
    ks, kv = compress_schedule(steps, wsd)
    assert ks.tolist() == [0, 500, 8_000, 10_000]
    assert np.interp(steps, ks, kv) == pytest.approx(wsd, abs=1e-15)

    cosine = np.where(steps < 500, steps / 500, 0.5 * (1 + np.cos(np.pi * (steps - 500) / 9_500))) * 3e-4
    ks, kv = compress_schedule(steps, cosine, rel_tol=1e-5)
    assert len(ks) < 300 and ks[0] == 0 and ks[-1] == 10_000
    assert np.max(np.abs(np.interp(steps, ks, kv) - cosine)) <= 1e-5 * 3e-4 * (1 + 1e-9)

    drop = np.where(steps < 5_000, 1.0, 0.1)  # a step drop: two knots around it
    ks, kv = compress_schedule(steps, drop)
    assert np.interp(steps, ks, kv) == pytest.approx(drop, abs=1e-12) and len(ks) == 4

    past = schedule_before(ks, kv, 5_000)
    assert past[0].tolist() == [0, 4_999]
    with pytest.raises(ValueError, match="increasing"):
        compress_schedule([0, 2, 1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        compress_schedule([0, 1], [1.0, math.nan])
