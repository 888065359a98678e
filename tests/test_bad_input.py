"""Every bad input to the fit, the plan and the forecast reader gets one clear error (issue 13).

Each test here failed before its fix: a traceback of an unexpected type (UnicodeDecodeError,
OverflowError, ZeroDivisionError, TypeError), a silently accepted option, or a misleading message.
"""
import csv

import numpy as np
import pytest

from scaling_callback.cli import main
from scaling_callback.core.crossrun import ChinchillaLaw, KaplanLaw, ScalingLawError, ScalingLawFit, fit_scaling_law

BINARY = bytes(range(256)) * 4  # not UTF-8: 0x80 cannot start a character


def cli_error(argv, capsys):
    """Run the CLI in-process; it must exit 2 with one message and no traceback."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err


def points_csv(path, N, D, L):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("N", "D", "loss"))
        w.writerows(zip(N, D, L))
    return str(path)


SIZES = np.array([1e6, 1e6, 1e7, 1e7, 1e8, 1e8])
TOKENS = np.array([1e9, 1e10, 1e9, 1e10, 1e9, 1e10])


# ----------------------------------------------------------------- items 5-6: binary files


def test_fit_on_a_binary_file_says_it_is_not_a_csv(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_bytes(BINARY)
    err = cli_error(["fit", str(path)], capsys)
    assert "not a CSV text file" in err and "runs.csv" in err


def test_plan_on_a_binary_file_says_it_is_not_json(tmp_path, capsys):
    path = tmp_path / "fit.json"
    path.write_bytes(BINARY)
    err = cli_error(["plan", "--compute", "1e21", "--fit", str(path)], capsys)
    assert "not a JSON text file" in err


def test_forecast_on_a_binary_file_says_it_is_not_a_csv(tmp_path, capsys):
    path = tmp_path / "curve.csv"
    path.write_bytes(BINARY)
    assert "not a CSV text file" in cli_error(["forecast", str(path), "--upto", "10"], capsys)


# ----------------------------------------------------------- items 7-9: every loss the same


@pytest.mark.parametrize("form", ["chinchilla", "kaplan"])
def test_fit_when_every_run_has_the_same_loss(tmp_path, capsys, form):
    runs = points_csv(tmp_path / "flat.csv", SIZES, TOKENS, np.full(6, 3.0))
    err = cli_error(["fit", runs, "--form", form, "--bootstrap", "3"], capsys)
    assert "same loss = 3" in err
    with pytest.raises(ScalingLawError, match="same loss"):
        fit_scaling_law(SIZES, TOKENS, np.full(6, 3.0), form=form, n_bootstrap=0)


def test_fit_whose_optimum_runs_off_to_infinity_is_refused():
    # loss varies by 1e-7: the Kaplan form's log N_c runs past e^709 (was OverflowError in math.exp)
    L = np.full(6, 3.0)
    L[1] += 1e-7
    with pytest.raises(ScalingLawError, match="diverged"):
        fit_scaling_law(SIZES, TOKENS, L, form="kaplan", n_bootstrap=0, n_starts=1)


@pytest.mark.parametrize("law", [
    ChinchillaLaw(E=1.0, A=1.0, B=1.0, alpha=0.0, beta=0.0),  # was ZeroDivisionError
    ChinchillaLaw(E=1.0, A=1e300, B=1e-300, alpha=1e-3, beta=1e-3),  # was OverflowError
    KaplanLaw(N_c=1e300, D_c=1.0, alpha_N=1.0, alpha_D=1e-300),  # was OverflowError
    KaplanLaw(N_c=1.0, D_c=1.0, alpha_N=0.0, alpha_D=0.0),  # was ZeroDivisionError
])
def test_a_law_without_an_allocation_says_so(law):
    fit = ScalingLawFit(law=law, bootstrap_laws=(law,), n_points=6, compute_range=(1e15, 1e18))
    with pytest.raises(ScalingLawError, match="no compute-optimal allocation"):
        fit.compute_optimal(1e20)
    assert fit.n_opt_exponent.value >= 0 or np.isnan(fit.n_opt_exponent.value)  # reading it never raises


# ---------------------------------------------------- item 10: options of a wrong type or value


@pytest.mark.parametrize("option, value", [
    ("confidence", "0.9"), ("confidence", None), ("confidence", 1.5), ("confidence", True),
    ("n_bootstrap", 2.5), ("n_bootstrap", "3"), ("n_bootstrap", -1), ("n_bootstrap", None), ("n_bootstrap", 10**9),
    ("seed", -1), ("seed", 1.5), ("seed", "0"),
    ("delta", -1), ("delta", 0.0), ("delta", float("nan")), ("delta", "1e-3"),
    ("n_starts", None), ("n_starts", 0), ("n_starts", 2.5),
])
def test_fit_options_of_a_wrong_type_or_value_raise_scaling_law_error(option, value):
    L = 1.7 + 400 / SIZES ** 0.34 + 410 / TOKENS ** 0.28
    with pytest.raises(ScalingLawError, match=option) as info:
        fit_scaling_law(SIZES, TOKENS, L, **{"n_bootstrap": 0, option: value})
    assert type(info.value) is ScalingLawError


@pytest.mark.parametrize("form", [None, 3, ["chinchilla"]])
def test_fit_form_of_a_wrong_type(form):
    with pytest.raises(ScalingLawError, match="unknown form"):
        fit_scaling_law(SIZES, TOKENS, np.linspace(3, 2, 6), form=form, n_bootstrap=0)


def test_points_whose_compute_overflows_are_refused():
    with pytest.raises(ScalingLawError, match="overflows"):
        fit_scaling_law(SIZES * 1e150, TOKENS * 1e150, np.linspace(3, 2, 6), n_bootstrap=0)


@pytest.mark.parametrize("compute", ["1e21", None, float("inf"), True])
def test_compute_of_a_wrong_type(compute):
    fit = ScalingLawFit(law=ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28))
    with pytest.raises(ScalingLawError, match="compute must be a positive"):
        fit.compute_optimal(compute)


# ------------------------------------------------------- item 11: a header and no rows


def test_forecast_on_a_header_only_csv_says_there_is_no_data(tmp_path, capsys):
    path = tmp_path / "curve.csv"
    path.write_text("run_id,step,val_loss\n")
    err = cli_error(["forecast", str(path), "--upto", "10"], capsys)
    assert "no data rows" in err and "runs" not in err


# ------------------------------------- issue 29, item 1: one path given where a list of paths goes


def test_one_path_as_a_string_or_a_pathlike_is_one_path_not_its_characters(tmp_path, monkeypatch):
    """read_run_points("runs.csv") read the file "r" (and "/some/dir/x.csv" walked "/", the whole
    disk); a pathlib.Path was a TypeError. Relative paths here, so the code before the fix fails fast."""
    monkeypatch.chdir(tmp_path)
    points_csv(tmp_path / "runs.csv", SIZES, TOKENS, np.linspace(3, 2, 6))
    from pathlib import Path

    from scaling_callback.io import read_run_points

    as_list = read_run_points(["runs.csv"])
    for one in ("runs.csv", Path("runs.csv"), tmp_path / "runs.csv"):
        points = read_run_points(one)
        assert points.loss.tolist() == as_list.loss.tolist() and len(points.sources) == 6
        assert all(isinstance(s, str) and s.endswith(f"runs.csv:{i + 2}") for i, s in enumerate(points.sources))
    with pytest.raises(TypeError, match="read_run_points takes a path or a list of paths"):
        read_run_points(3)


def test_read_scalars_takes_one_tag_as_one_tag(tmp_path):
    """read_scalars(logdir, tags="val_loss") matched the tags "v", "a", "l", ... and returned {}."""
    from torch.utils.tensorboard import SummaryWriter

    from scaling_callback.io import read_scalars

    writer = SummaryWriter(str(tmp_path))
    for step in (1, 2, 3):
        writer.add_scalar("val_loss", 3.0 - step / 10, step)
        writer.add_scalar("lr", 0.1, step)
    writer.close()
    assert list(read_scalars(str(tmp_path), tags="val_loss")) == ["val_loss"]
    assert list(read_scalars(tmp_path, tags=["lr"])) == ["lr"]  # a pathlib.Path log dir
    with pytest.raises(TypeError, match="read_scalars takes one path"):
        read_scalars([str(tmp_path)])


# ------------------------------------------------ issue 29, item 2: a bootstrap that runs for years


def test_a_bootstrap_of_a_billion_resamples_is_refused_at_once(tmp_path):
    """n_bootstrap=10**9 (and `fit --bootstrap 1000000000`) ran for years; both must be refused at
    once. In a subprocess with a time limit, so the code before the fix fails instead of hanging."""
    import subprocess
    import sys

    from scaling_callback.core.crossrun.inputs import MAX_BOOTSTRAP

    runs = points_csv(tmp_path / "runs.csv", SIZES, TOKENS, 1.7 + 400 / SIZES ** 0.34 + 410 / TOKENS ** 0.28)
    script = (
        "import sys, numpy as np\n"
        "from scaling_callback.cli import main\n"
        "from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law\n"
        "N, D, L = np.loadtxt(sys.argv[1], delimiter=',', skiprows=1).T\n"
        "try:\n"
        "    fit_scaling_law(N, D, L, n_bootstrap=10**9)\n"
        "except ScalingLawError as exc:\n"
        "    print('API:', exc)\n"
        "sys.exit(main(['fit', sys.argv[1], '--bootstrap', str(10**9)]))\n")
    done = subprocess.run([sys.executable, "-c", script, runs], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"n_bootstrap must be a whole number from 0 (no intervals) to {MAX_BOOTSTRAP}" in done.stdout
    assert done.stderr.strip() == ("scaling-callback fit: error: --bootstrap must be a whole number from 0 (no "
                                   f"intervals) to {MAX_BOOTSTRAP} (percentile intervals need about 1,000 "
                                   "resamples; each one is a refit), got 1000000000")
    help_text = subprocess.run([sys.executable, "-m", "scaling_callback.cli", "fit", "--help"],
                               capture_output=True, text=True, timeout=60).stdout
    assert f"at most {MAX_BOOTSTRAP})" in " ".join(help_text.split())
