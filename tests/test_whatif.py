"""What if the run cooled down now: forecasts under schedules the run has not taken (core.whatif),
the cool-down planner on synthetic curves, and the live what-if of a real Lightning run read back
from its TensorBoard event file."""
import json
import os

import lightning.pytorch as L
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.cli import main
from scaling_callback.core import tags
from scaling_callback.core.whatif import (Cooldown, ScheduleMismatch, compare_cooldowns, cool_down_now,
                                          forecast_under, past_difference, plan_cooldown, rate_at, resized_run,
                                          with_cooldown)
from tiny_models import CurveModule, curve_loaders, trainer_kwargs

WARMUP, PEAK = 100, 1e-3
CURVES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "curves")
BRANCH = "fsp_sp124m_wsd0.2l_lr0.001_T50000"  # lr_scheduling: constant 1e-3 to step 40000, then a linear cool-down


def synthetic_run(end=20000, cooldown_from=None, fraction=0.2):
    """A warmup-stable(-decay) schedule and the multi-power-like curve of its stable phase."""
    ks = [0.0, WARMUP, float(end)]
    kv = [PEAK / 100, PEAK, PEAK]
    plan = (np.array(ks), np.array(kv))
    if cooldown_from is not None:
        plan = with_cooldown(plan, cooldown_from, fraction, shape="linear")
    steps = np.arange(400, 8001, 200, dtype=float)
    losses = 2.5 + 4.0 * (steps * PEAK * 1e3 / 1e3) ** -0.35 + 0.001 * np.sin(steps)
    return plan, steps, losses


def test_a_cooldown_is_built_from_the_plan_with_its_shape_length_and_final_rate():
    plan, _, _ = synthetic_run()
    for shape, mid in (("linear", 0.5), ("sqrt", 1 - np.sqrt(0.5)), ("cosine", 0.5)):
        ks, kv = with_cooldown(plan, 8000, 2000, shape=shape, final_fraction=0.1)
        assert ks[-1] == 10000 and np.isclose(kv[-1], 0.1 * PEAK)
        assert np.isclose(rate_at((ks, kv), 9000), 0.1 * PEAK + 0.9 * PEAK * mid, rtol=1e-3)
        assert np.allclose(rate_at((ks, kv), [0, 50, 8000]), rate_at(plan, [0, 50, 8000]))
    ks, _ = with_cooldown(plan, 8000, 0.2)  # a fifth of the run it ends: 8000·0.2/0.8 steps
    assert ks[-1] == 10000
    longer = resized_run(with_cooldown(plan, 8000, 0.2), 10000, 20000)
    start = WARMUP + (8000 - WARMUP) * (20000 - WARMUP) / (10000 - WARMUP)  # the warm-up kept, the rest stretched
    assert rate_at(longer, 50) == rate_at(plan, 50) and np.isclose(rate_at(longer, start), PEAK)
    assert np.isclose(rate_at(longer, (start + 20000) / 2), PEAK * (1 - np.sqrt(0.5)), rtol=1e-2)
    assert rate_at(longer, 20000) == 0
    with pytest.raises(ValueError, match="shape"):
        Cooldown(0.2, "step")


def test_an_alternative_whose_past_differs_from_the_runs_is_refused_with_where():
    plan, steps, losses = synthetic_run()
    assert past_difference(plan, (plan[0], 7 * plan[1]), upto=8000) is None  # a multiplier is the same schedule
    other = with_cooldown(plan, 6000, 2000)  # cools down before step 8000, where the run has trained
    reason = past_difference(plan, other, upto=8000)
    assert reason and "step 60" in reason and "only the steps after 8000" in reason
    with pytest.raises(ScheduleMismatch, match="differs from the run's before step 8000"):
        forecast_under(steps, losses, other, target_step=8000, run_lr=plan)
    fc = forecast_under(steps, losses, with_cooldown(plan, 8000, 2000), target_step=10000, run_lr=plan)
    assert fc.ok and fc.law == "multi-power"


def test_cooling_down_now_forecasts_a_drop_and_the_planner_finds_the_earliest_start():
    plan, steps, losses = synthetic_run(end=20000, cooldown_from=16000)
    now = cool_down_now(steps, losses, planned_lr=plan, planned_end=20000)
    assert now.start == 8000 and now.end == 8000 + 4000 and now.recipe.shape == "linear"  # the plan's own recipe
    cosine = (np.array([0.0, WARMUP, 10000, 20000]), np.array([PEAK / 100, PEAK, PEAK * 0.55, PEAK * 0.1]))
    early = cool_down_now(steps[:5], losses[:5], planned_lr=cosine, planned_end=20000)  # rate still near its peak
    assert early.recipe == Cooldown() and early.end == 1200 + 300  # not the cosine's own decay: the default
    assert cool_down_now(steps, losses, planned_lr=cosine, planned_end=20000) is None  # at 8000 it is decaying
    constant = forecast_under(steps, losses, plan[:1] + (np.full(len(plan[0]), PEAK),), target_step=now.end)
    assert now.loss < constant.loss and now.low < now.loss < now.high

    plan_ = plan_cooldown(steps, losses, planned_lr=plan, planned_end=20000, min_delta=0.02, candidates=5)
    assert [o.start for o in plan_.options] == [8000, 10000, 12000, 14000, 16000]
    assert plan_.reference.end == 20000
    ok = [o for o in plan_.options if o.loss <= plan_.reference.loss + 0.02]
    assert plan_.recommended == ok[0] and plan_.recommended.steps_saved == 20000 - plan_.recommended.end
    assert str(plan_.recommended.start) in plan_.message
    easy = plan_cooldown(steps, losses, planned_lr=plan, planned_end=20000, target_loss=10.0, candidates=3)
    assert easy.recommended.start == 8000 and easy.recommended.reach < 10.0  # any start reaches a loss of 10
    never = plan_cooldown(steps, losses, planned_lr=plan, planned_end=20000, target_loss=1.0, candidates=3)
    assert never.recommended is None and "Keep the plan" in never.message

    compared = compare_cooldowns(steps, losses, planned_lr=plan, planned_end=20000)
    assert len(compared.options) == 9 and compared.preferred in compared.options
    assert ("prefers" in compared.message) == compared.clear


@pytest.mark.parametrize("every", [1, None])
def test_a_constant_schedule_run_logs_cool_down_now_at_every_validation(tmp_path, every):
    """A real Lightning run at a constant rate under ScalingLawCallback(): the cool-down-now
    forecast, its interval and end step at every validation with a forecast (whatif_every=1; by
    default every 5th, from the first), the line in the Text tab."""
    callback = ScalingLawCallback(figure_every=0, **({} if every is None else {"whatif_every": every}))
    trainer = L.Trainer(callbacks=[callback], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=300, val_check_interval=30, limit_val_batches=1))
    trainer.fit(CurveModule(lambda step, rank=0: 2.0 + 30.0 * (step + 10) ** -0.5), *curve_loaders(300))
    logged = read_scalars(str(tmp_path))
    forecast_steps = logged[tags.FINAL_LOSS][0].tolist()
    assert len(forecast_steps) >= 8
    now_steps, now = logged[tags.COOLDOWN_NOW_LOSS]
    ends = logged[tags.COOLDOWN_NOW_END][1]
    fits = [s for s in forecast_steps if s + round(s * 0.25) <= 300]  # a cool-down of 20% of the run it ends
    assert now_steps.tolist() == (fits if every == 1 else fits[::5])
    assert np.all(logged[tags.COOLDOWN_NOW_LOW][1] <= now) and np.all(now <= logged[tags.COOLDOWN_NOW_HIGH][1])
    assert ends.tolist() == [s + round(s * 0.25) for s in now_steps]
    (events,) = list(tmp_path.rglob("*tfevents*"))
    acc = EventAccumulator(str(events), size_guidance={"tensors": 0})
    acc.Reload()
    lines = acc.Tensors(tags.WHATIF_TEXT + "/text_summary")
    assert [e.step for e in lines] == now_steps.tolist()
    assert "Cool down now" in lines[-1].tensor_proto.string_val[0].decode()
    assert callback.tracker.whatif is not None and callback.tracker.whatif_seconds > 0


def test_the_command_line_forecasts_under_another_schedule_and_refuses_another_past(tmp_path, capsys):
    csv = os.path.join(CURVES, "lr_scheduling.csv")
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("step,lr\n0,0.00001\n300,0.001\n30000,0.001\n40000,0\n")  # the run's warm-up, a cool-down at 30000
    bad.write_text("step,lr\n0,0.001\n40000,0\n")  # a cosine-like fall from step 0: not this run's past
    assert main(["forecast", csv, "--run", BRANCH, "--upto", "20000", "--schedule", str(good), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["target_step"] == 40000 and out["low"] < out["loss"] < out["high"] and out["law"] == "multi-power"
    assert main(["forecast", csv, "--run", BRANCH, "--upto", "20000", "--schedule", str(bad)]) == 2
    assert "not a what-if of this run" in capsys.readouterr().err
    plot = tmp_path / "whatif.png"
    assert main(["whatif", csv, "--run", BRANCH, "--upto", "20000", "--decay-at", "20000", "30000",
                 "--decay-length", "0.2", "--shape", "linear", "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "20000  25000" in table and "30000  37500" in table and "planned    40000  50000" in table
    assert plot.stat().st_size > 10_000
    assert main(["whatif", csv, "--run", BRANCH, "--upto", "20000", "--decay-at", "10000",
                 "--decay-length", "2000"]) == 2
    assert "before the last step seen" in capsys.readouterr().err


def test_the_command_line_what_if_reads_a_callbacks_log_dir(tmp_path, capsys):
    trainer = L.Trainer(callbacks=[ScalingLawCallback(figure_every=0, whatif_every=0)],
                        logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=300, val_check_interval=30, limit_val_batches=1))
    trainer.fit(CurveModule(lambda step, rank=0: 2.0 + 30.0 * (step + 10) ** -0.5), *curve_loaders(300))
    logdir = trainer.logger.log_dir
    assert not any(t.startswith("whatif/") for t in read_scalars(logdir))  # whatif_every=0: none
    assert main(["whatif", logdir, "--upto", "150", "--decay-at", "150", "200", "--decay-length", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["planned_end"] == 300 and [o["end"] for o in out["options"]] == [200, 250]
    assert all(o["low"] < o["loss"] < o["high"] for o in out["options"])
