"""examples/train_plain_loop.py, a bare PyTorch loop on ScalingTracker, runs end to end (shrunk):
alone, and as 2 data-parallel processes (gloo) whose token counts are summed."""
import importlib.util
import json
import os

import pytest
import torch

from scaling_callback import read_scalars
from ranks import free_port, run_ranks

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "train_plain_loop.py")
TINY = ["--steps", "12", "--eval-every", "4", "--accumulate", "2", "--batch-size", "4", "--n-ctx", "16",
        "--d-model", "16", "--n-layer", "1", "--n-head", "2", "--warmup", "2", "--corpus-mb", "0.1"]
PER_STEP = 2 * 4 * 16  # micro-batches x windows x bytes


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("train_plain_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plain_loop_counts_forecasts_and_writes_tensorboard(example, tmp_path, capsys):
    tracker, _ = example.main(TINY + ["--logdir", str(tmp_path)])
    assert tracker.history.column("step").tolist() == [4, 8, 12]
    assert tracker.history.column("tokens").tolist() == [4 * PER_STEP, 8 * PER_STEP, 12 * PER_STEP]
    assert tracker.n_params == 1 * (12 * 16 * 16 + 13 * 16) + 2 * 16  # one block, final LayerNorm; tied head
    assert tracker.forecasts[-1].ok and tracker.forecasts[-1].target_step == 12
    logged = read_scalars(str(tmp_path))
    assert logged["scaling/tokens"][1].tolist() == [4 * PER_STEP, 8 * PER_STEP, 12 * PER_STEP]
    assert "forecast/final_loss" in logged and "advice/recommended_stop_step" in logged
    assert "throughput/tokens_per_second" in logged
    saved = torch.load(os.path.join(tmp_path, "checkpoint.pt"), weights_only=True)
    assert saved["scaling"]["tokens"] == 12 * PER_STEP
    assert "TensorBoard logs:" in capsys.readouterr().out


def _rank(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", RANK=str(rank),
                      LOCAL_RANK=str(rank))
    spec = importlib.util.spec_from_file_location("train_plain_loop", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tracker, _ = module.main(TINY + ["--logdir", out])
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump({"tokens": tracker.history.column("tokens").tolist(),
                   "forecasts": len(tracker.forecasts)}, f)


def test_plain_loop_two_processes_sum_their_tokens(tmp_path):

    port = free_port()
    run_ranks(_rank, (port, str(tmp_path)))
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for record in records:  # every rank holds the global count
        assert record["tokens"] == [2 * 4 * PER_STEP, 2 * 8 * PER_STEP, 2 * 12 * PER_STEP]
    assert [r["forecasts"] for r in records] == [3, 0]  # rank 0 forecasts
    assert read_scalars(str(tmp_path))["scaling/tokens"][1].tolist() == records[0]["tokens"]
