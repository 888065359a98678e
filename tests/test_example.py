"""The README's main job, examples/train_gpt.py, runs end to end (shrunk) and logs the scaling tags."""
import importlib.util
import logging
import os

import pytest

from scaling_callback import read_scalars

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "train_gpt.py")
TINY = ["--d-model", "16", "--n-layer", "1", "--n-head", "2", "--n-ctx", "16", "--batch-size", "4",
        "--max-steps", "6", "--warmup", "2", "--val-every", "3", "--val-batches", "2"]


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_gpt", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_trains_and_logs(example, tmp_path, capsys):
    example.main(TINY + ["--corpus-mb", "0.25", "--logdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "standard-library source" in out and "TensorBoard logs:" in out
    logged = read_scalars(str(tmp_path))
    assert logged["scaling/tokens"][0].tolist() == [3, 6]
    assert logged["scaling/tokens"][1].tolist() == [3 * 4 * 16, 6 * 4 * 16]
    corpus = int(0.95 * 0.25 * 2**20)  # the training split of the corpus
    assert logged["scaling/epochs"][1][-1] == pytest.approx(6 * 4 * 16 / corpus, rel=1e-6)  # float32 in TB


# long enough for forecasts: 10 validations of a model that learns fast
FORECASTING = ["--d-model", "16", "--n-layer", "1", "--n-head", "2", "--n-ctx", "16", "--batch-size", "8",
               "--max-steps", "40", "--warmup", "4", "--val-every", "4", "--val-batches", "2", "--lr", "1e-2",
               "--corpus-mb", "0.25"]


def _summary(caplog):
    return next(m for m in caplog.messages if m.startswith("scaling-callback: N = "))


def test_example_prints_one_summary_the_callbacks(example, tmp_path, capsys, caplog):
    """The callback's summary gives the latest forecast by 25/50/75% of the run, each labelled with
    the step it was made at, beside the loss reached; the example prints no second one of its own
    (it printed one in another format: 25/50% only, 4 decimals)."""
    with caplog.at_level(logging.INFO, logger="scaling_callback"):
        example.main(FORECASTING + ["--logdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "forecast of the validation loss at step" not in out and "made at:" not in out
    logged = read_scalars(str(tmp_path))
    steps, ok = logged["forecast/ok"]
    made = steps[ok == 1]
    assert len(made) >= 5  # forecasts were made along the run ...
    for tag in ("forecast/final_loss_low", "forecast/final_loss_high", "forecast/asymptotic_loss",
                "advice/recommended_stop_step", "gate/optimistic_gain"):
        assert tag in logged
    forecast_steps, final_loss = logged["forecast/final_loss"]
    lines = _summary(caplog).splitlines()
    assert lines[1].startswith(f"  final loss {logged['val_loss'][1][-1]:.4f} at step 40")
    shown = [line for line in lines if line.startswith("    at step ")]
    expected = sorted({int(max(s for s in made if s <= fraction * 40)) for fraction in (0.25, 0.5, 0.75)})
    assert [int(line.split()[2]) for line in shown] == expected  # ... the latest by each share, once each
    for line, step in zip(shown, expected):
        assert f"({step / 40:.0%} of the run)" in line
        predicted = float(final_loss[list(forecast_steps).index(step)])
        assert float(line.split(": ")[1].split()[0]) == pytest.approx(predicted, rel=5e-3)  # 3 digits shown


def test_example_stops_early_on_the_forecast(example, tmp_path, capsys, caplog):
    # a gate that asks for an improvement this run cannot promise stops it at its first forecast
    with caplog.at_level(logging.INFO, logger="scaling_callback"):
        example.main(FORECASTING + ["--stop-min-delta", "5", "--stop-patience", "1", "--logdir", str(tmp_path)])
    stopped = read_scalars(str(tmp_path), ["gate/stopped_step"])["gate/stopped_step"][1]
    assert len(stopped) == 1 and 0 < stopped[0] < 40
    assert any(m.startswith("ForecastEarlyStopping: Stopped: at step") for m in caplog.messages)  # said once, by the gate
    assert "by 50% of the run: not reached" in _summary(caplog)
    assert "stopped by ForecastEarlyStopping" not in capsys.readouterr().out


def test_example_schedule_is_warmup_then_cosine(example):
    args = example.parse_args(["--max-steps", "100", "--warmup", "10", "--lr", "1e-2", "--min-lr", "1e-3"])
    module = example.GPTModule(16, 1, 2, 16, args.lr, args.min_lr, args.warmup, args.max_steps, 0.1)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    rates.append(optimizer.param_groups[0]["lr"])
    assert rates[0] == pytest.approx(1e-3)  # lr / warmup
    assert all(a < b for a, b in zip(rates[:10], rates[1:11]))  # linear rise to the peak at step 10
    assert rates[10] == pytest.approx(1e-2)
    assert rates[55] == pytest.approx(5.5e-3)  # half-way down the cosine: (peak + floor) / 2
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))
    assert rates[100] == pytest.approx(1e-3)  # min_lr at max_steps


def test_example_trains_on_given_text(example, tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_bytes(b"the quick brown fox jumps over the lazy dog\n" * 200)
    example.main(TINY + ["--text", str(text), "--logdir", str(tmp_path / "logs")])
    assert "1 file(s) given with --text" in capsys.readouterr().out
    logged = read_scalars(str(tmp_path / "logs"), ["scaling/epochs"])
    assert logged["scaling/epochs"][1][-1] == pytest.approx(6 * 4 * 16 / int(0.95 * 200 * 44), rel=1e-6)


@pytest.mark.parametrize("flags, message", [
    (["--text", "no/such/file.txt"], "is not a file"),
    (["--d-model", "10", "--n-head", "4"], "divisible"),
    (["--warmup", "800"], "--warmup"),
    (["--strategy", "ddp_spawn"], "--strategy"),
    (["--stop-patience", "0"], "--stop-patience"),
])
def test_example_rejects_bad_flags(example, flags, message, capsys):
    with pytest.raises(SystemExit):
        example.parse_args(flags)
    assert message in capsys.readouterr().err
