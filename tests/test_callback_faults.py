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
    assert len(failed) == 1, failed  # one a run, as docs/callback.md says (the run-end summary said it again)
    assert all(not r.ok and "injected fault" in r.reason for r in callback.forecasts)


# ------------------------------------------------- items 3-4: a checkpoint state that is wrong


@pytest.fixture(scope="module")
def saved_checkpoint(tmp_path_factory):
    """A real checkpoint of a 40-step run with the callback's state in it: (path, state key)."""
    tmp_path = tmp_path_factory.mktemp("ckpt")
    callback = ScalingLawCallback(forecast=False)
    fit(tmp_path, [callback, L.callbacks.ModelCheckpoint(dirpath=str(tmp_path), filename="last")],
        max_steps=40, enable_checkpointing=True)
    return str(tmp_path / "last.ckpt"), callback.state_key


ONE_FORECAST = {"step": [20], "target_step": [40], "loss": [2.0], "low": [1.9], "high": [2.1], "asymptote": [1.5],
                "exponent": [0.3], "fitted_loss": [2.1], "ok": [True], "reason": [None]}


@pytest.mark.parametrize("change, key", [
    (lambda s: s.pop("tokens"), "tokens"),  # was KeyError: 'tokens'
    (lambda s: s.pop("train_batches"), "train_batches"),
    (lambda s: s.pop("history"), "history"),
    (lambda s: s["schedule"].pop("end") if s.get("schedule") else s.update(schedule={"steps": [0]}), "schedule"),
    (lambda s: s.update(tokens=-5), "tokens"),  # was accepted
    (lambda s: s.update(tokens=1500.7), "tokens"),  # was read as 1500
    (lambda s: s.update(train_batches=-3), "train_batches"),
    (lambda s: s["history"]["tokens"].__setitem__(0, -40), "history"),
    (lambda s: s.update(forecasts=dict(ONE_FORECAST, ok=["False"])), "forecasts"),  # was read as True
])
def test_a_wrong_checkpoint_state_is_one_error_naming_the_checkpoint_and_the_key(tmp_path, saved_checkpoint, change, key):
    import torch

    path, state_key = saved_checkpoint
    checkpoint = torch.load(path, weights_only=False)
    change(checkpoint["callbacks"][state_key])
    bad = str(tmp_path / "bad.ckpt")
    torch.save(checkpoint, bad)
    with pytest.raises(ValueError) as info:
        fit(tmp_path, [ScalingLawCallback(forecast=False)], max_steps=60, ckpt_path=bad)
    message = str(info.value)
    assert "bad.ckpt" in message and f"key {key!r}" in message and "restart its counts from zero" in message


# ------------------------------------- item 2: resume from a checkpoint written before a validation


@pytest.mark.parametrize("every", [20, 30])  # on every validation step; on some (60) but not others (30, 90)
def test_a_resume_from_a_checkpoint_written_on_a_validation_step_forecasts_as_the_whole_run(tmp_path, every):
    def checkpoints(name):
        return L.callbacks.ModelCheckpoint(dirpath=str(tmp_path / name), every_n_train_steps=every, save_top_k=-1,
                                           filename="{step}")

    whole = ScalingLawCallback()
    fit(tmp_path / "whole", [whole, checkpoints("whole_ckpt")], enable_checkpointing=True)
    resumed = ScalingLawCallback()
    # step 60 is both a checkpoint and a validation step: the checkpoint is written before the
    # validation, and Lightning does not run that validation on resume (the history lacked step 60)
    fit(tmp_path / "resumed", [resumed, checkpoints("resumed_ckpt")], enable_checkpointing=True,
        ckpt_path=str(tmp_path / "whole_ckpt" / "step=60.ckpt"))
    assert [o.step for o in resumed.history] == [o.step for o in whole.history] == [20, 40, 60, 80, 100, 120]
    assert [o.tokens for o in resumed.history] == [o.tokens for o in whole.history]
    assert resumed.forecasts[-1] == whole.forecasts[-1]  # was 0.5–1.2% apart


# ------------------------------------------------ item 12: two callbacks with different monitors


class TwoLosses(CurveModule):
    """Logs a second validation metric, 1.5x the first, beside val_loss."""

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("val_loss_b", 1.5 * float(self.curve(self.global_step, self.global_rank)))


def test_two_callbacks_with_different_monitors_write_their_own_tags(tmp_path):
    a, b = ScalingLawCallback(monitor="val_loss"), ScalingLawCallback(monitor="val_loss_b")
    trainer = L.Trainer(callbacks=[a, b], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=120, val_check_interval=20, limit_val_batches=1))
    trainer.fit(TwoLosses(improving_curve), *curve_loaders(400))
    logged = read_scalars(str(tmp_path))
    assert tags.FINAL_LOSS not in logged  # was written by both, one overwriting the other
    for callback, monitor in ((a, "val_loss"), (b, "val_loss_b")):
        steps, values = logged[f"{tags.FINAL_LOSS}/{monitor}"]
        ok = [r for r in callback.forecasts if r.ok]
        assert steps.tolist() == [r.step for r in ok] and values.tolist() == pytest.approx([r.loss for r in ok], rel=1e-6)
        assert f"{tags.FORECAST_OK}/{monitor}" in logged
    assert b.forecasts[-1].loss == pytest.approx(1.5 * a.forecasts[-1].loss, rel=0.05)
    assert tags.TOKENS in logged  # the run's scale keeps its one name (scaling-callback fit reads it)


def test_two_callbacks_write_the_runs_throughput_once_and_both_their_charts(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.custom_scalar import layout_pb2

    a, b = ScalingLawCallback(monitor="val_loss"), ScalingLawCallback(monitor="val_loss_b")
    trainer = L.Trainer(callbacks=[a, b], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=60, val_check_interval=20, limit_val_batches=1))
    trainer.fit(TwoLosses(improving_curve), *curve_loaders(400))
    (events,) = tmp_path.rglob("*tfevents*")
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    for tag in (tags.TOKENS_PER_SECOND, tags.FLOPS_PER_SECOND, tags.SECONDS_TO_PLANNED_END):
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == [20, 40, 60], (tag, steps)  # was written by both at each step, with different values
    layout = layout_pb2.Layout()
    layout.ParseFromString(acc.Tensors(tags.LAYOUT_SUMMARY)[-1].tensor_proto.string_val[0])  # the one TensorBoard shows
    series = {s.value for c in layout.category for chart in c.chart for s in chart.margin.series}
    for monitor in ("val_loss", "val_loss_b"):  # was the first callback's charts only
        assert f"{tags.FINAL_LOSS}/{monitor}" in series and monitor in series
    assert len({c.title for c in layout.category}) == 2
