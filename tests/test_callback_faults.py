"""The Lightning callback under faults (issue 13): a forecast that raises, a checkpoint state that
is missing keys or holds wrong values, a resume from a checkpoint saved on a validation step.
Real Trainers on CurveModule; results read back from real TensorBoard files."""
import warnings

import lightning.pytorch as L
import pytest

import scaling_callback.tracking.tracker as tracker_module
from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.core import tags
from tiny_models import CurveModule, curve_loaders, improving_curve, trainer_kwargs


def fit(tmp_path, callbacks, *, max_steps=120, val_every=20, ckpt_path=None, logger_name="tb", **overrides):
    trainer = L.Trainer(callbacks=callbacks, logger=L.loggers.TensorBoardLogger(str(tmp_path), name=logger_name),
                        **trainer_kwargs(tmp_path, max_steps=max_steps, val_check_interval=val_every,
                                         limit_val_batches=1, **overrides))
    trainer.fit(CurveModule(improving_curve), *curve_loaders(400), ckpt_path=ckpt_path)
    return trainer


# ---------------------------------------------------------------- item 1: forecast() raising


def test_a_forecast_that_raises_logs_ok_0_at_every_validation_and_warns_once(tmp_path, monkeypatch):
    def broken(*args, **kwargs):  # fault injection: the forecast engine raising mid-run
        raise RuntimeError("injected fault")

    monkeypatch.setattr(tracker_module, "assess", broken)
    callback = ScalingLawCallback()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit(tmp_path, [callback])
    assert trainer.global_step == 120  # training went on
    steps, ok = read_scalars(str(tmp_path))[tags.FORECAST_OK]
    assert steps.tolist() == [20, 40, 60, 80, 100, 120] and ok.tolist() == [0.0] * 6
    failed = [str(w.message) for w in caught if "injected fault" in str(w.message)]
    per_validation = [m for m in failed if "forecast at step" in m]
    assert len(per_validation) == 1, failed  # was one per validation (the message carried the step)
    assert len(failed) <= 2  # and at most the run-end summary "no forecast could be made in this run"
    assert all(not r.ok and "injected fault" in r.reason for r in callback.forecasts)
