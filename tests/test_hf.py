"""The Hugging Face Trainer adapter: real `transformers.Trainer` runs on the CPU (a tiny GPT-2
built from a config, no download), read back from the Trainer's own TensorBoard event file."""
import math

import lightning.pytorch as L
import numpy as np
import pytest
import transformers
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.hf import ForecastEarlyStoppingCallback, ScalingLawTrainerCallback
from tiny_hf import CurveModel, PaddedItems, StepToModel, collate, gpt2_params, tiny_gpt2, training_args
from tiny_models import CurveModule, curve_loaders, improving_curve, plateau_curve, trainer_kwargs
from ranks import free_port, run_ranks

pytest.importorskip("accelerate")  # the Trainer needs it


def _texts(logdir, tag):
    (events,) = [p for p in logdir.rglob("*tfevents*")]
    acc = EventAccumulator(str(events), size_guidance={"tensors": 0, "images": 0})
    acc.Reload()
    return acc, [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(tag)]


def test_gpt2_run_logs_scale_forecast_and_advice(tmp_path):
    """3 epochs of 200 padded sequences, batches of 4 with 2 accumulation steps (25 optimizer
    steps per epoch), an evaluation at every epoch's end, warm-up and cosine from the Trainer."""
    data = PaddedItems(n_items=200)
    callback = ScalingLawTrainerCallback()
    args = training_args(tmp_path, max_steps=75, eval_steps=25, logging_steps=5, gradient_accumulation_steps=2,
                         lr_scheduler_type="cosine", warmup_steps=5, include_num_input_tokens_seen="non_padding")
    trainer = transformers.Trainer(model=tiny_gpt2(), args=args, train_dataset=data, eval_dataset=PaddedItems(8, seed=1),
                                   data_collator=collate, callbacks=[callback])
    trainer.train()

    epoch = data.tokens(range(len(data)))  # real tokens of one pass, padding excluded
    assert callback.history.column("step").tolist() == [25, 50, 75]
    assert callback.history.column("tokens").tolist() == [epoch, 2 * epoch, 3 * epoch]
    assert trainer.state.num_input_tokens_seen == 3 * epoch  # the Trainer's own non-padding count agrees
    assert callback.tracker.n_params == gpt2_params()[0]
    assert callback.tracker.planned_steps == 75
    assert callback.forecasts.column("step").tolist() == [25, 50, 75]
    assert callback.forecasts[-1].ok

    logged = read_scalars(str(tmp_path))
    assert logged["scaling/params_non_embedding"][1].tolist() == [gpt2_params()[0]] * 3
    assert logged["scaling/tokens"][0].tolist() == [25, 50, 75]
    assert logged["scaling/tokens"][1].tolist() == [epoch, 2 * epoch, 3 * epoch]
    for tag in ("forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high", "forecast/final_step",
                "advice/recommended_stop_step", "advice/overfitting", "scaling/epochs"):
        assert tag in logged, tag
    assert logged["forecast/final_step"][1].tolist()[-1] == 75
    assert logged["scaling/epochs"][1].tolist() == pytest.approx([1.0, 2.0, 3.0])
    assert not any(tag.startswith("train/scaling") for tag in logged)  # exact names, not HF's "train/" prefix
    acc, texts = _texts(tmp_path, "advice/summary/text_summary")
    assert [step for step, _ in texts] == [25, 50, 75]
    assert "custom_scalars__config__" in acc.Tags()["tensors"]  # the custom-scalars layout
    assert "forecast/figure" in acc.Tags()["images"]
    # every report_to integration got the tags: the Trainer's log history holds them
    logged_history = [entry for entry in trainer.state.log_history if "scaling/tokens" in entry]
    assert [entry["step"] for entry in logged_history] == [25, 50, 75]
    trainer.evaluate()  # after training: not a point of the run's curve
    assert callback.history.column("step").tolist() == [25, 50, 75]


def test_schedule_is_the_trainers(tmp_path):
    """The planned learning rate the forecast uses is the Trainer's: linear warm-up then cosine."""
    callback = ScalingLawTrainerCallback()
    args = training_args(tmp_path, max_steps=40, eval_steps=20, lr_scheduler_type="cosine", warmup_steps=10,
                         learning_rate=0.01, report_to=[])
    trainer = transformers.Trainer(model=tiny_gpt2(), args=args, train_dataset=PaddedItems(80),
                                   eval_dataset=PaddedItems(4, seed=1), data_collator=collate, callbacks=[callback])
    trainer.train()
    schedule = callback.tracker.planned_schedule
    steps, lr = schedule.steps, schedule.lr
    want = [0.01 * min(s / 10, 0.5 * (1 + math.cos(math.pi * max(s - 10, 0) / 30))) for s in steps]
    assert np.allclose(lr, want, rtol=1e-6, atol=1e-9)
    assert steps[0] == 0 and steps[-1] >= 40


def _hf_curve_run(tmp_path, curve, callbacks, max_steps, eval_steps, **schedule):
    schedule = schedule or dict(lr_scheduler_type="cosine", warmup_steps=10)
    args = training_args(tmp_path, max_steps=max_steps, eval_steps=eval_steps, per_device_train_batch_size=2,
                         optim="sgd", learning_rate=0.1, per_device_eval_batch_size=1, logging_steps=max_steps,
                         **schedule)
    trainer = transformers.Trainer(model=CurveModel(curve), args=args, train_dataset=PaddedItems(2 * max_steps),
                                   eval_dataset=PaddedItems(1, seed=1), data_collator=collate,
                                   callbacks=[StepToModel(), *callbacks])
    trainer.train()
    return trainer


def test_same_forecast_as_the_lightning_callback(tmp_path):
    """One validation curve, one schedule (transformers' cosine with warm-up in both): the HF
    adapter and the Lightning callback forecast the same numbers at every evaluation."""
    hf = ScalingLawTrainerCallback(train_monitor=None)
    _hf_curve_run(tmp_path / "hf", improving_curve, [hf], max_steps=200, eval_steps=20)

    def cosine(optimizer):
        return transformers.get_scheduler("cosine", optimizer, num_warmup_steps=10, num_training_steps=200)

    lightning = ScalingLawCallback()
    trainer = L.Trainer(callbacks=[lightning], logger=False,
                        **trainer_kwargs(tmp_path / "pl", max_steps=200, val_check_interval=20, limit_val_batches=1))
    trainer.fit(CurveModule(improving_curve, scheduler=cosine), *curve_loaders(200))

    assert hf.history.column("step").tolist() == lightning.history.column("step").tolist() == list(range(20, 201, 20))
    assert np.allclose(hf.history.column("val_loss"), lightning.history.column("val_loss"))
    for column in ("loss", "low", "high", "asymptote"):
        ours, theirs = hf.forecasts.column(column), lightning.forecasts.column(column)
        assert np.allclose(ours, theirs, rtol=1e-9, equal_nan=True), column
    assert np.isfinite(hf.forecasts.column("loss")[1:]).all()


def test_gate_stops_the_hf_run(tmp_path):
    from scaling_callback.tracking.settings import TrackerSettings

    gate = ForecastEarlyStoppingCallback(min_delta=0.02, patience=2)
    source = ScalingLawTrainerCallback(settings=TrackerSettings(min_delta=0.05), min_delta=0.01)  # keywords override
    assert source.tracker.min_delta == 0.01
    seen = []
    source.add_listener(seen.append)  # a listener of one's own, beside the gate
    trainer = _hf_curve_run(tmp_path, plateau_curve, [source, gate], max_steps=1000,
                            eval_steps=40, lr_scheduler_type="constant")
    assert 0 < gate.stopped_step == trainer.state.global_step < 600  # of 1000, as the Lightning gate (test_early_stopping)
    assert seen == list(source.forecasts) and gate.last_check.step == seen[-1].step
    checks = gate.last_check
    source.tracker.publish_forecast(seen[-1])  # the gate left at train end: only our listener hears it
    assert gate.last_check is checks and len(seen) == len(source.forecasts) + 1
    assert gate.reason.startswith("Stopped")
    logged = read_scalars(str(tmp_path), ["gate/stopped_step", "gate/wait_count"])
    assert logged["gate/stopped_step"][1].tolist() == [gate.stopped_step]
    assert logged["gate/wait_count"][0][-1] == gate.stopped_step
    _, reasons = _texts(tmp_path, "gate/reason/text_summary")
    assert reasons == [(gate.stopped_step, gate.reason)]


def test_gate_without_a_forecasting_callback_is_refused(tmp_path):
    args = training_args(tmp_path, max_steps=2, report_to=[], eval_strategy="no")
    trainer = transformers.Trainer(model=tiny_gpt2(), args=args, train_dataset=PaddedItems(8), data_collator=collate,
                                   callbacks=[ForecastEarlyStoppingCallback()])
    with pytest.raises(RuntimeError, match="has no ScalingLawTrainerCallback"):
        trainer.train()


def _hf_rank(rank, port, out):
    """One of 2 data-parallel Trainer processes (accelerate's MULTI_CPU, gloo), spawned with the
    environment torchrun gives."""
    import json
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2")
    callback = ScalingLawTrainerCallback()
    args = training_args(out, max_steps=50, eval_steps=25, include_num_input_tokens_seen="non_padding")
    trainer = transformers.Trainer(model=tiny_gpt2(), args=args, train_dataset=PaddedItems(200),
                                   eval_dataset=PaddedItems(8, seed=1), data_collator=collate, callbacks=[callback])
    trainer.train()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"world_size": args.world_size, "tokens": callback.history.column("tokens").tolist(),
                   "trainer_tokens": trainer.state.num_input_tokens_seen,
                   "forecasts": callback.forecasts.column("loss").tolist()}, f)


def test_two_processes_sum_their_tokens_and_share_the_forecast(tmp_path):
    """2 processes, batches of 4, 25 steps = the 200 items once: D is the data's tokens (each
    process counts its half), the Trainer's own gathered count agrees, and both processes hold
    the main process's forecasts."""
    import json
    port = free_port()
    run_ranks(_hf_rank, (port, str(tmp_path)))
    epoch = PaddedItems(200).tokens(range(200))
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for record in records:
        assert record["world_size"] == 2
        assert record["tokens"] == [epoch, 2 * epoch]
        assert record["trainer_tokens"] == 2 * epoch
    np.testing.assert_array_equal(records[0]["forecasts"], records[1]["forecasts"])  # NaN: no forecast yet
    assert math.isfinite(records[0]["forecasts"][-1])
    assert read_scalars(str(tmp_path), ["scaling/tokens"])["scaling/tokens"][1].tolist() == [epoch, 2 * epoch]
