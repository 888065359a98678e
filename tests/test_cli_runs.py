"""The fit and plan commands on what a newcomer has: one run folder per Lightning version,
few runs, budgets far beyond the runs."""
import json

import numpy as np

from scaling_callback.cli import main
from test_crossrun import TRUE_CHINCHILLA, grid_points, write_csv, write_tensorboard_run


def test_each_version_folder_is_one_run_and_the_runs_are_named(tmp_path, capsys):
    parent = tmp_path / "runs"
    sizes = [(2e6, 4e8), (8e6, 1.6e9), (3.2e7, 6.4e9), (2e6, 6.4e9), (3.2e7, 4e8), (8e6, 4e8)]
    for i, (N, D) in enumerate(sizes):
        write_tensorboard_run(parent / f"version_{i}", N, D, TRUE_CHINCHILLA)
    assert main(["fit", str(parent), "--bootstrap", "0", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"read 6 run(s): {parent / 'version_0'}, " in captured.err
    assert json.loads(captured.out)  # six points for five parameters: a fit, with a loud warning
    assert "WARNING: 6 points for 5 parameters" in captured.err and "under-determined" in captured.err


def test_an_exact_fit_is_refused(tmp_path, capsys):
    N, D, L = grid_points(TRUE_CHINCHILLA)
    five = write_csv(tmp_path / "five.csv", N[::5], D[::5] * np.arange(1, 6), L[::5])
    assert main(["fit", five, "--bootstrap", "0"]) == 2
    assert "5 points for the 5 parameters" in capsys.readouterr().err


def test_plan_far_beyond_the_runs_warns(tmp_path, capsys):
    N, D, L = grid_points(TRUE_CHINCHILLA)
    runs = write_csv(tmp_path / "runs.csv", N, D, L)
    assert main(["fit", runs, "--bootstrap", "0", "--save", str(tmp_path / "fit.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"read 25 row(s) of {runs}") and "WARNING" not in out
    assert main(["plan", "--compute", "1e30", "--fit", str(tmp_path / "fit.json")]) == 0
    text = capsys.readouterr().out
    assert "WARNING: " in text and "a far extrapolation" in text
    assert main(["plan", "--compute", "1e21", "--fit", str(tmp_path / "fit.json")]) == 0
    assert "extrapolation" not in capsys.readouterr().out
