"""The README's main job, examples/train_gpt.py, runs end to end (shrunk) and logs the scaling tags."""
import importlib.util
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


def test_example_prints_the_forecasts_at_25_and_50_percent_beside_the_loss_reached(example, tmp_path, capsys):
    example.main(FORECASTING + ["--logdir", str(tmp_path)])
    out = capsys.readouterr().out
    logged = read_scalars(str(tmp_path))
    steps, ok = logged["forecast/ok"]
    made = steps[ok == 1]
    assert len(made) >= 5  # forecasts were made along the run ...
    forecast_steps, final_loss = logged["forecast/final_loss"]
    for tag in ("forecast/final_loss_low", "forecast/final_loss_high", "forecast/asymptotic_loss",
                "advice/recommended_stop_step", "gate/optimistic_gain"):
        assert tag in logged
    # ... and the summary shows the ones made at or before 25% and 50% of the 40 steps, as logged
    lines = out[out.index("forecast of the validation loss at step 40"):].splitlines()
    for line, fraction in zip(lines[1:3], (0.25, 0.5)):
        step = int(max(s for s in made if s <= fraction * 40))
        predicted = float(final_loss[list(forecast_steps).index(step)])
        assert line.split()[:2] == ["step", str(step)]
        shown = float(line.split(")")[1].split()[0])  # printed to 4 decimals; TensorBoard holds a float32
        assert shown == pytest.approx(predicted, abs=1.5e-4)
    assert lines[3].split()[:4] == ["reached", "at", "step", "40"]
    assert lines[3].split()[4] == f"{logged['val_loss'][1][-1]:.4f}"


def test_example_stops_early_on_the_forecast(example, tmp_path, capsys):
    # a gate that asks for an improvement this run cannot promise stops it at its first forecast
    example.main(FORECASTING + ["--stop-min-delta", "5", "--stop-patience", "1", "--logdir", str(tmp_path)])
    out = capsys.readouterr().out
    stopped = read_scalars(str(tmp_path), ["gate/stopped_step"])["gate/stopped_step"][1]
    assert len(stopped) == 1 and 0 < stopped[0] < 40
    assert f"stopped by ForecastEarlyStopping at step {int(stopped[0])} of 40" in out
    assert "50% of the run: not reached" in out


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
