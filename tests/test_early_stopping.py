"""ForecastEarlyStopping on real Trainers: it stops plateaued runs early, leaves improving runs
alone, honours min_steps, needs a ScalingLawCallback, and resumes where it was."""
import math

import lightning.pytorch as L
import numpy as np
import pytest
import pytorch_lightning as PL
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scaling_callback import ForecastEarlyStopping, ScalingLawCallback, read_scalars
from scaling_callback.core.schedules import lr_area, multi_power_drop
from tiny_models import (CurveModule, PLCurveModule, curve_loaders, improving_curve, plateau_curve,
                         trainer_kwargs)

MAX_STEPS = 1000


def fit_curve(tmp_path, callbacks, curve, *, module=None, ckpt_path=None, pl=L, **overrides):
    settings = dict(max_steps=MAX_STEPS, val_check_interval=40, limit_val_batches=1)
    settings.update(overrides)
    trainer = pl.Trainer(callbacks=callbacks, logger=pl.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                         **trainer_kwargs(tmp_path, **settings))
    trainer.fit(module or CurveModule(curve), *curve_loaders(MAX_STEPS), ckpt_path=ckpt_path)
    return trainer


def _texts(logdir, tag):
    (events,) = [p for p in logdir.rglob("*tfevents*")]
    acc = EventAccumulator(str(events), size_guidance={"tensors": 0})
    acc.Reload()
    return [e.tensor_proto.string_val[0].decode() for e in acc.Tensors(tag)]


def test_plateau_is_stopped_well_before_max_steps(tmp_path, caplog):
    gate = ForecastEarlyStopping(min_delta=0.02, patience=2)
    with caplog.at_level("INFO", logger="scaling_callback"):
        trainer = fit_curve(tmp_path, [gate, ScalingLawCallback()], plateau_curve)  # order does not matter
    # like EarlyStopping, it says why it stopped
    assert any(m.endswith(gate.reason) for m in caplog.messages)
    # well before the end, not at once: the interval is calibrated on real runs, many of which went
    # on falling after looking flat at 10-20% of the run, so the first checks keep a lower end
    assert 0 < gate.stopped_step == trainer.global_step <= 0.6 * MAX_STEPS
    assert gate.reason.startswith("Stopped") and "below min_delta=0.02 for 2 consecutive checks" in gate.reason
    assert gate.last_check.stop and gate.wait_count == 2
    logged = read_scalars(str(tmp_path), ["gate/stopped_step", "gate/optimistic_gain", "gate/wait_count"])
    assert logged["gate/stopped_step"][1].tolist() == [gate.stopped_step]
    assert logged["gate/optimistic_gain"][1][-1] < 0.02 <= logged["gate/optimistic_gain"][1][0]
    assert _texts(tmp_path, "gate/reason/text_summary") == [gate.reason]


def test_improving_run_is_not_stopped(tmp_path):
    gate = ForecastEarlyStopping(min_delta=0.02, patience=2)
    callback = ScalingLawCallback()
    seen = []
    callback.add_listener(seen.append)  # any rule can listen as the gate does
    trainer = fit_curve(tmp_path, [callback, gate], improving_curve, val_check_interval=50)
    assert trainer.global_step == MAX_STEPS and gate.stopped_step is None and gate.reason is None
    assert seen == list(callback.forecasts)
    checks = gate.last_check
    callback.tracker.publish_forecast(seen[-1])  # the gate left at teardown: only our listener hears it
    assert gate.last_check is checks and len(seen) == len(callback.forecasts) + 1
    assert len(callback.forecasts) == MAX_STEPS // 50 and all(r.ok for r in callback.forecasts[1:])
    # the last check is at the planned end: nothing left to save, no decision
    assert "nothing left to save" in gate.last_check.reason


def test_min_steps_is_honoured(tmp_path):
    gate = ForecastEarlyStopping(min_delta=0.02, patience=2, min_steps=650)  # without: stopped by step 600
    trainer = fit_curve(tmp_path, [ScalingLawCallback(), gate], plateau_curve, val_check_interval=50)
    assert gate.stopped_step == trainer.global_step == 650  # the first check from min_steps on


def test_pytorch_lightning_namespace(tmp_path):
    gate = ForecastEarlyStopping(min_delta=0.02, patience=2)
    trainer = fit_curve(tmp_path, [ScalingLawCallback(), gate], None, module=PLCurveModule(plateau_curve), pl=PL)
    assert 0 < gate.stopped_step == trainer.global_step < MAX_STEPS


@pytest.mark.parametrize("callbacks, why", [([], "has no ScalingLawCallback"),
                                            ([ScalingLawCallback(forecast=False)], "forecast=False")])
def test_gate_needs_a_forecasting_scaling_callback(tmp_path, callbacks, why):
    with pytest.raises(RuntimeError, match=why):
        fit_curve(tmp_path, callbacks + [ForecastEarlyStopping()], plateau_curve)


def test_bad_settings_raise():
    for kwargs in (dict(min_delta=0), dict(min_delta=math.nan), dict(patience=0), dict(min_steps=-1),
                   dict(patience=1.5)):
        with pytest.raises(ValueError):
            ForecastEarlyStopping(**kwargs)


def warmup(optimizer):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / 50))


def test_resumed_run_forecasts_and_stops_like_the_uninterrupted_one(tmp_path):
    ckpt = L.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_train_steps=10, save_top_k=-1,
                                       filename="{step}")
    whole, whole_gate = ScalingLawCallback(), ForecastEarlyStopping(min_delta=0.02, patience=3)
    fit_curve(tmp_path / "whole", [whole, whole_gate, ckpt], None, module=CurveModule(plateau_curve, scheduler=warmup),
              val_check_interval=30, enable_checkpointing=True)
    stop = whole_gate.stopped_step
    assert 0 < stop < MAX_STEPS

    # the first checkpoint between validations with the gate counting (patience 3: two checks to go)
    def gate_state(step):
        states = torch.load(tmp_path / "ckpt" / f"step={step}.ckpt", weights_only=True)["callbacks"]
        return states["ForecastEarlyStopping"]
    start = min(s for s in range(10, stop, 10) if s % 30 and gate_state(s)["wait_count"] > 0)

    resumed, resumed_gate = ScalingLawCallback(), ForecastEarlyStopping(min_delta=0.02, patience=3)
    trainer = fit_curve(tmp_path / "resumed", [resumed, resumed_gate], None,
                        module=CurveModule(plateau_curve, scheduler=warmup), val_check_interval=30,
                        ckpt_path=str(tmp_path / "ckpt" / f"step={start}.ckpt"))
    assert resumed_gate.stopped_step == trainer.global_step == stop
    assert resumed_gate.reason == whole_gate.reason
    # the same forecasts at the same steps, warm-up schedule included (restored, not re-simulated)
    after = [r for r in whole.forecasts if r.step > start]
    # (compared by repr: an overfitting forecast's asymptote is NaN, and NaN != NaN)
    assert len(after) >= 2 and [repr(r) for r in resumed.forecasts if r.step > start] == [repr(r) for r in after]
    # restored ones too (repr: an overfitting forecast's asymptote is NaN, and NaN != NaN)
    assert [repr(r) for r in resumed.forecasts if r.ok] == [repr(r) for r in whole.forecasts if r.ok]
    np.testing.assert_array_equal(resumed.tracker.planned_schedule.lr, whole.tracker.planned_schedule.lr)
    logged = read_scalars(str(tmp_path / "resumed"), ["forecast/final_loss"])["forecast/final_loss"]
    expected = [r.loss for r in after]
    assert logged[0].tolist() == [r.step for r in after] and logged[1] == pytest.approx(expected, rel=1e-6)


def cyclic_lr(step):
    """A warm-up, then a cosine cycle every 250 steps between 0.1 and 1 (warm restarts, smoothed)."""
    return min(1.0, (step + 1) / 20) * (0.55 + 0.45 * math.cos(2 * math.pi * step / 250))


def cyclic_curve():
    """The multi-power law under cyclic_lr (Luo et al. 2025: the drop a decay bought is given back
    as the rate rises again): the validation loss rises in every rising half-cycle, then falls below
    its best (2.212 at step 380, 2.116 at step 880)."""
    eta = np.array([cyclic_lr(s) for s in range(MAX_STEPS + 1)])
    loss = (2.0 + 3.0 * (lr_area(eta) + 5) ** -0.4) * (1 - 0.08 * multi_power_drop(eta, np.arange(MAX_STEPS + 1),
                                                                                      1.1, 0.59, 0.64))
    return lambda step, rank=0: float(loss[min(step, MAX_STEPS)]) + 0.002 * math.sin(1.7 * step)


def test_a_loss_rising_with_a_planned_learning_rate_rise_does_not_stop_the_run(tmp_path):
    """A rise while the schedule raises the rate is the schedule's doing, not overfitting: before,
    the rising law followed it to the end of the run and the gate stopped the run at step 500, in
    the first rise; the loss went on to improve by 0.1."""
    def scheduler(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, cyclic_lr)
    gate, callback = ForecastEarlyStopping(min_delta=0.02, patience=2), ScalingLawCallback()
    trainer = fit_curve(tmp_path, [callback, gate], None, module=CurveModule(cyclic_curve(), scheduler=scheduler),
                        val_check_interval=20)
    assert trainer.global_step == MAX_STEPS and gate.stopped_step is None
    assert len(callback.forecasts) == MAX_STEPS // 20 and sum(r.ok for r in callback.forecasts) >= 40
    # nor is it called overfitting (it was at 12 of the 50 validations)
    overfitting = read_scalars(str(tmp_path), ["advice/overfitting"])["advice/overfitting"]
    assert len(overfitting[1]) == 50 and not overfitting[1].any()

