"""The README's main job, examples/train_gpt.py, runs end to end (shrunk) and logs the scaling tags."""
import importlib.util
import os

import pytest

from scaling_callback import read_scalars

EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "train_gpt.py")


def test_example_trains_and_logs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("train_gpt", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--d-model", "16", "--n-layer", "1", "--n-head", "2", "--n-ctx", "16", "--batch-size", "4",
                  "--max-steps", "6", "--val-every", "3", "--val-batches", "2", "--corpus-mb", "0.25",
                  "--logdir", str(tmp_path)])
    assert "TensorBoard logs:" in capsys.readouterr().out
    logged = read_scalars(str(tmp_path))
    assert logged["scaling/tokens"][0].tolist() == [3, 6]
    assert logged["scaling/tokens"][1].tolist() == [3 * 4 * 16, 6 * 4 * 16]
    corpus = int(0.95 * 0.25 * 2**20)  # the training split of the corpus
    assert logged["scaling/epochs"][1][-1] == pytest.approx(6 * 4 * 16 / corpus, rel=1e-6)  # float32 in TB
