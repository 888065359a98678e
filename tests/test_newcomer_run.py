"""What a person sees of a real run: advice as state (no data-limit warning where the plan never
repeats a token, no flip of the stop advice), the forecast in the progress bar and the terminal,
the figure at the end, throughput, and the command line reproducing the callback's forecast from
its own log dir. Real Trainers, real TensorBoard event files read back."""
import json
import logging

import lightning.pytorch as L
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.cli import main
from test_advice_board import flipping_curve
from tiny_models import CurveModule, curve_loaders, improving_curve, plateau_curve, trainer_kwargs


def _fit(tmp_path, callback, curve, *, n_batches=400, **overrides):
    settings = dict(max_steps=400, val_check_interval=40, limit_val_batches=1)
    settings.update(overrides)
    trainer = L.Trainer(callbacks=[callback], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, **settings))
    trainer.fit(CurveModule(lambda step, rank=0: curve(step)), *curve_loaders(n_batches))
    return trainer


def _events(tmp_path):
    (events,) = list(tmp_path.rglob("*tfevents*"))
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    acc.Reload()
    return acc


def _texts(tmp_path):
    return [e.tensor_proto.string_val[0].decode() for e in _events(tmp_path).Tensors("advice/summary/text_summary")]


def test_a_run_that_never_repeats_its_data_gets_no_data_limit_warning(tmp_path, caplog):
    # 400 steps of 8 tokens = 3200 tokens from 10^5 unique ones: 3% of an epoch. The data set is far
    # below Kaplan's limit for N = 10^6 (5e3·N^0.74 = 1.4e8), which the old advice called a warning.
    callback = ScalingLawCallback(non_embedding_params=10**6, tokens_per_epoch=10**5)
    with caplog.at_level(logging.INFO, logger="scaling_callback"):
        _fit(tmp_path, callback, improving_curve)
    texts = _texts(tmp_path)
    assert len(texts) == 10
    assert not any("**Data limit** (" in t for t in texts)  # never among the warnings
    assert "does not limit this run" in texts[-1]  # said, as context, of the planned run
    assert not any("Data limit" in m for m in caplog.messages)
    logged = read_scalars(str(tmp_path))
    assert logged["advice/tokens_to_data_limit"][1][-1] < 0  # the number itself is unchanged


def test_the_stop_advice_does_not_flip(tmp_path, caplog):
    """On this curve the advice of each validation alone says "stop now" at one step and "keep
    training" at a later one (test_advice_board shows it); the run's text does not flip."""
    callback = ScalingLawCallback(min_delta=0.02)
    with caplog.at_level(logging.INFO, logger="scaling_callback"):
        _fit(tmp_path, callback, flipping_curve)
    dos = [t.split("**Do:** ")[1].split("\n")[0].strip() for t in _texts(tmp_path)]
    first = dos.index("Stop now.")
    assert set(dos[first:-1]) == {"Stop now."}, dos
    assert dos[-1].startswith("Nothing: the run is at its planned end")
    reached = read_scalars(str(tmp_path), ["val_loss"])["val_loss"][1][-1]
    assert _texts(tmp_path)[-1].splitlines()[2].startswith(f"**Ended:** loss {reached:.4g} reached at step 400")
    raised = [m for m in caplog.messages if "warning: Recommended stop" in m]
    assert len(raised) == 1  # raised once in the terminal
    assert not any(t.split("**Do:** ")[1].startswith("Keep training") for t in _texts(tmp_path)[first:])


def test_terminal_line_per_validation_summary_figure_and_throughput(tmp_path, caplog):
    callback = ScalingLawCallback(figure_every=100)  # the figure only at the first forecast and at the end
    with caplog.at_level(logging.INFO, logger="scaling_callback"):
        trainer = _fit(tmp_path, callback, improving_curve, max_steps=380)  # ends between validations
    lines = [m for m in caplog.messages if m.startswith("step ") and "forecast at step 380" in m]
    assert len(lines) == 8  # no progress bar in the tests: one line per validation with a forecast
    last = callback.forecasts[-1]
    assert lines[-1].endswith(f"{last.loss:#.3g} [{last.low:#.3g}, {last.high:#.3g}]")
    summary = next(m for m in caplog.messages if m.startswith("scaling-callback: N = "))
    # the latest forecasts by 25% and 75% of the 380 planned steps were made at steps 80 and 280:
    # the labels give the share each was really made at (it said "75% of the run (step 280)")
    assert "at step 80 (21% of the run)" in summary and "at step 280 (74% of the run)" in summary
    assert "75% of the run (step 280)" not in summary
    assert "time spent forecasting" in summary and "advice at the end: " in summary
    images = _events(tmp_path).Images("forecast/figure")
    # first forecast (step 80), and at train end the latest forecast (step 360) it was not drawn at
    assert [i.step for i in images] == [80, 360] and trainer.global_step == 380
    logged = read_scalars(str(tmp_path))
    tps, left = logged["throughput/tokens_per_second"][1], logged["throughput/seconds_to_planned_end"][1]
    assert np.all(tps > 0) and left[-1] < left[0] and len(tps) == 9


def test_progress_bar_shows_the_forecast(tmp_path):
    callback = ScalingLawCallback()
    shown = []

    class Peek(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            shown.append(trainer.progress_bar_callback.get_metrics(trainer, trainer.lightning_module).get("forecast"))

    trainer = L.Trainer(callbacks=[callback, Peek()], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=120, val_check_interval=40, limit_val_batches=1,
                                         enable_progress_bar=True))
    trainer.fit(CurveModule(plateau_curve), *curve_loaders(120))
    r = callback.forecasts[1]
    assert shown[40] is None and shown[81] == f"{r.loss:#.3g} [{r.low:#.3g}, {r.high:#.3g}]"
    assert "get_metrics" not in vars(trainer.progress_bar_callback)  # given back at train end


def test_the_cli_reproduces_the_callbacks_forecast_from_its_log_dir(tmp_path, capsys):
    import torch

    def warmup_cosine(optimizer):
        warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=40)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=360)
        return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cosine], milestones=[40])

    callback = ScalingLawCallback()
    trainer = L.Trainer(callbacks=[callback], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_steps=400, val_check_interval=40, limit_val_batches=1))
    trainer.fit(CurveModule(plateau_curve, scheduler=warmup_cosine), *curve_loaders(400))
    run = tmp_path / "tb" / "version_0"
    assert (run / "scaling_schedule.json").is_file()
    for record in (callback.forecasts[4], callback.forecasts[-2]):
        assert main(["forecast", str(tmp_path / "tb"), "--upto", str(record.step), "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["at"] == 400 and got["n_points"] <= record.step // 40
        assert got["loss"] == pytest.approx(record.loss, rel=1e-4) and got["low"] == pytest.approx(record.low, rel=1e-4)
    assert main(["forecast", str(run)]) == 0  # every point, the planned end, the planned schedule
    out = capsys.readouterr().out
    assert out.startswith("run version_0: 10 points") and "forecast at step 400: " in out
    assert "constant" not in out  # the schedule came from the file, not the constant-rate assumption


def test_plain_loop_tracker_gives_advice_as_state_throughput_and_the_last_figure(tmp_path):
    import torch
    from torch import nn
    from torch.utils.tensorboard import SummaryWriter

    from scaling_callback import ScalingTracker

    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(64, 16), nn.Linear(16, 64))
    writer = SummaryWriter(str(tmp_path))
    tracker = ScalingTracker(model, planned_steps=400, writer=writer, figure_every=100)
    tracker.training_started(0)
    reports = []
    for step in range(1, 381):
        tracker.count(torch.zeros(4, 8, dtype=torch.long))
        if step % 40 == 0:
            tracker.evaluation_started()
            reports.append(tracker.observe(step, flipping_curve(step)))
    tracker.finish()
    writer.close()
    assert reports[-1].advice is tracker.advice and "**Do:** " in tracker.advice.markdown
    assert reports[0].metrics["throughput/tokens_per_second"] > 0
    images = _events(tmp_path).Images("forecast/figure")
    assert [i.step for i in images] == [80, 360]  # the first forecast, and the last one at finish()
    texts = _texts(tmp_path)
    assert texts[-1] == tracker.advice.markdown and texts[-1].startswith("### Step 360 of 400")
