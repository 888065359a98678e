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
])
def test_example_rejects_bad_flags(example, flags, message, capsys):
    with pytest.raises(SystemExit):
        example.parse_args(flags)
    assert message in capsys.readouterr().err
