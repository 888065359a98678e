"""Cross-run scaling laws: the Chinchilla replication, exact recovery, intervals, CLI, errors."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scaling_callback.cli import main
from scaling_callback.core.crossrun import (ChinchillaLaw, KaplanLaw, ScalingLawError, ScalingLawFit,
                                       fit_scaling_law)
from scaling_callback.io import read_run_points

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA_CSV = ROOT / "data" / "scaling" / "chinchilla_svg_extracted.csv"

TRUE_CHINCHILLA = ChinchillaLaw(E=1.8, A=400.0, B=2000.0, alpha=0.35, beta=0.37)
TRUE_KAPLAN = KaplanLaw(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)  # Kaplan Table 2


def grid_points(law, n_sizes=5, n_tokens=5):
    """Every (N, D) pair of a log grid of model sizes and token counts, with the law's loss."""
    N, D = np.meshgrid(np.logspace(7, 9.5, n_sizes), np.logspace(9, 11.5, n_tokens))
    N, D = N.ravel(), D.ravel()
    return N, D, law.loss(N, D)


def chinchilla_points():
    """The 240 points Besiroglu et al. fit: D = C/(6N), the 5 highest losses dropped."""
    assert CHINCHILLA_CSV.is_file(), f"missing {CHINCHILLA_CSV} (data/ of this repository)"
    with open(CHINCHILLA_CSV) as f:
        rows = list(csv.DictReader(f))
    N, C, L = (np.array([float(r[k]) for r in rows]) for k in ("N", "C", "loss"))
    keep = np.argsort(L)[:-5]
    return N[keep], C[keep] / (6 * N[keep]), L[keep]


def rel(a, b):
    return abs(a - b) / abs(b)


# ------------------------------------------------------------------------- the paper's table


def test_chinchilla_points_land_in_the_replication_confidence_intervals():
    N, D, L = chinchilla_points()
    assert N.size == 240
    law = fit_scaling_law(N, D, L, n_bootstrap=0).law
    # Besiroglu et al. 2024, 95% CIs
    assert 1.769 <= law.E <= 1.871
    assert 285.2 <= law.A <= 743.6
    assert 1042.4 <= law.B <= 5810.3
    assert 0.317 <= law.alpha <= 0.373
    assert 0.331 <= law.beta <= 0.415
    # and the optimum their notebook reaches with Hoffmann's grid and L-BFGS-B
    for name, theirs in dict(E=1.817, A=477.8, B=2143.9, alpha=0.347, beta=0.367).items():
        assert rel(getattr(law, name), theirs) < 0.005, name


# ------------------------------------------------------------------------- exact recovery


@pytest.mark.parametrize("truth", [TRUE_CHINCHILLA, TRUE_KAPLAN], ids=["chinchilla", "kaplan"])
def test_noise_free_points_recover_the_law(truth):
    N, D, L = grid_points(truth)
    fit = fit_scaling_law(N, D, L, form=truth.form, n_bootstrap=0)
    assert type(fit.law) is type(truth)
    for name in truth.names:
        assert rel(getattr(fit.law, name), getattr(truth, name)) < 1e-4, name
    assert fit.n_points == N.size
    assert np.allclose(fit.law.loss(N, D), L, rtol=1e-7)


@pytest.mark.parametrize("law", [TRUE_CHINCHILLA, TRUE_KAPLAN], ids=["chinchilla", "kaplan"])
def test_compute_optimal_allocation_minimises_loss_on_the_budget(law):
    for C in (1e19, 1e22):
        N_opt, D_opt = law.compute_optimal(C)
        assert rel(6 * N_opt * D_opt, C) < 1e-12
        # brute force along the iso-FLOP line D = C/(6N)
        N = np.logspace(np.log10(N_opt) - 1, np.log10(N_opt) + 1, 200_001)
        assert rel(N[np.argmin(law.loss(N, C / (6 * N)))], N_opt) < 1e-3
    # the exponents are the slopes of N_opt(C), D_opt(C) on log-log axes
    (n1, d1), (n2, d2) = law.compute_optimal(1e20), law.compute_optimal(1e23)
    assert rel(np.log10(n2 / n1) / 3, law.n_opt_exponent) < 1e-9
    assert rel(np.log10(d2 / d1) / 3, law.d_opt_exponent) < 1e-9
    assert law.n_opt_exponent + law.d_opt_exponent == pytest.approx(1)


def test_no_allocation_when_loss_does_not_fall_with_N(tmp_path, capsys):
    fit = ScalingLawFit(law=ChinchillaLaw(E=1.8, A=400.0, B=2000.0, alpha=0.0, beta=0.37), n_points=9,
                        compute_range=(1e18, 1e20))
    assert np.isnan(fit.n_opt_exponent.value)
    with pytest.raises(ScalingLawError, match="no compute-optimal allocation"):
        fit.compute_optimal(1e21)
    fit.save(tmp_path / "flat.json")
    assert "no compute-optimal allocation" in _cli_error(
        ["plan", "--compute", "1e21", "--fit", str(tmp_path / "flat.json")], capsys)


def test_hoffmann_closed_form_gives_their_allocation_exponents():
    # Hoffmann et al. 2022 eq. 4 with their fit: a = β/(α+β) = 0.28/0.62, b = α/(α+β)
    law = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
    assert law.n_opt_exponent == pytest.approx(0.28 / 0.62)
    assert law.d_opt_exponent == pytest.approx(0.34 / 0.62)


# ------------------------------------------------------------------------- intervals


def test_bootstrap_intervals_contain_the_truth_on_noisy_points():
    truth = TRUE_CHINCHILLA
    N, D, L = grid_points(truth)
    L = L * np.exp(np.random.default_rng(1).normal(0, 0.01, L.size))
    fit = fit_scaling_law(N, D, L, n_bootstrap=30, seed=3)
    assert len(fit.bootstrap_laws) == 30
    for name, est in fit.parameters.items():
        assert est.low < est.high
        assert est.low <= getattr(truth, name) <= est.high, name
    plan = fit.compute_optimal(1e21)
    true_N, true_D = truth.compute_optimal(1e21)
    assert plan.N.low <= true_N <= plan.N.high
    assert plan.D.low <= true_D <= plan.D.high
    assert plan.loss.low <= truth.loss(true_N, true_D) <= plan.loss.high
    assert plan.tokens_per_parameter.value == pytest.approx(plan.D.value / plan.N.value)
    at = fit.expected_loss(3e8, 6e9)
    assert at.value == pytest.approx(float(fit.law.loss(3e8, 6e9)))
    assert at.low <= truth.loss(3e8, 6e9) <= at.high


def test_intervals_narrow_as_noise_falls_and_repeat_with_the_seed():
    N, D, L = grid_points(TRUE_CHINCHILLA)
    noise = np.random.default_rng(2).normal(0, 1, L.size)

    def alpha(sigma, n_bootstrap):
        return fit_scaling_law(N, D, L * np.exp(sigma * noise), n_bootstrap=n_bootstrap, seed=0).parameters["alpha"]

    quiet, loud = alpha(0.002, 10), alpha(0.02, 10)
    assert quiet.high - quiet.low < 0.5 * (loud.high - loud.low)
    assert alpha(0.002, 10) == quiet


def test_without_bootstrap_estimates_are_plain_numbers():
    fit = fit_scaling_law(*grid_points(TRUE_CHINCHILLA), n_bootstrap=0)
    assert all(e.low is None and e.as_json() == e.value for e in fit.parameters.values())


def test_saved_fit_reads_back_identical(tmp_path):
    N, D, L = grid_points(TRUE_KAPLAN)
    fit = fit_scaling_law(N, D, L * np.exp(np.random.default_rng(0).normal(0, 0.01, L.size)),
                          form="kaplan", n_bootstrap=8)
    fit.save(tmp_path / "fit.json")
    back = ScalingLawFit.load(tmp_path / "fit.json")
    assert back == fit
    assert back.compute_optimal(3e21) == fit.compute_optimal(3e21)


# ------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("N, D, L, form, message", [
    ([1e7, 1e8, 1e9, 1e7], [1e9, 1e9, 1e10, 1e10], [3, 2.8, 2.5, 2.9], "chinchilla", "at least 5 points"),
    ([1e7, 1e8, 1e9], [1e9, 1e9, 1e10], [3, 2.8, 2.5], "kaplan", "at least 4 points"),
    ([1e7, -1e8, 1e9, 1e7, 1e8], [1e9] * 2 + [1e10] * 3, [3] * 5, "chinchilla", "N must be positive"),
    ([1e7, 1e8, 1e9, 1e7, 1e8], [1e9] * 2 + [1e10] * 3, [3, 0, 3, 3, 3], "chinchilla", "loss must be positive"),
    ([1e8] * 6, [1e9, 2e9, 4e9, 8e9, 1.6e10, 3.2e10], [3, 2.9, 2.8, 2.7, 2.6, 2.5], "chinchilla",
     r"same N = 1e\+08"),
    ([1e7, 1e8, 1e9, 1e7, 1e8], [1e9] * 5, [3] * 5, "chinchilla", "same D"),
    ([1e7, 1e8], [1e9], [3, 2], "chinchilla", "one value per point"),
    ([1e7, 1e8, 1e9, 1e7, 1e8], [1e9] * 2 + [1e10] * 3, [3] * 5, "hoffmann", "unknown form"),
])
def test_bad_input_says_what_is_missing(N, D, L, form, message):
    with pytest.raises(ScalingLawError, match=message):
        fit_scaling_law(N, D, L, form=form, n_bootstrap=0)


def test_single_model_size_message_asks_for_varied_N():
    with pytest.raises(ScalingLawError, match=r"at least 2 different model sizes \(N varied\)"):
        fit_scaling_law([1e8] * 6, np.logspace(9, 10, 6), np.linspace(3, 2.5, 6), n_bootstrap=0)


# ------------------------------------------------------------------------- CLI


def write_csv(path, N, D, L, columns=("N", "D", "loss")):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for n, d, l in zip(N, D, L):
            w.writerow([n, {"C": 6 * n * d}.get(columns[1], d), l])
    return str(path)


def test_cli_fit_csv_json_save_plot_and_plan(tmp_path, capsys):
    truth = TRUE_CHINCHILLA
    N, D, L = grid_points(truth)
    runs = write_csv(tmp_path / "runs.csv", N, D, L, columns=("N", "C", "loss"))  # D = C/(6N)
    assert main(["fit", runs, "--bootstrap", "5", "--json", "--save", str(tmp_path / "fit.json"),
                 "--plot", str(tmp_path / "fit.png")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"E", "A", "B", "alpha", "beta"}
    for name, est in out.items():
        assert set(est) == {"value", "low", "high"}
        assert rel(est["value"], getattr(truth, name)) < 1e-4
    assert (tmp_path / "fit.png").stat().st_size > 10_000

    assert main(["plan", "--compute", "1e21", "--fit", str(tmp_path / "fit.json"), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    N_opt, D_opt = truth.compute_optimal(1e21)
    assert rel(plan["N"]["value"], N_opt) < 1e-3 and rel(plan["D"]["value"], D_opt) < 1e-3
    assert rel(plan["loss"]["value"], truth.loss(N_opt, D_opt)) < 1e-6
    assert plan["tokens_per_parameter"]["value"] == pytest.approx(D_opt / N_opt, rel=2e-3)

    assert main(["plan", "--compute", "1e24", "--fit", str(tmp_path / "fit.json")]) == 0
    text = capsys.readouterr().out
    assert "expected loss" in text and "extrapolation" in text


def test_cli_fit_prints_law_and_compute_optimal_table(tmp_path, capsys):
    N, D, L = grid_points(TRUE_KAPLAN)
    runs = write_csv(tmp_path / "runs.csv", N, D, L)
    assert main(["fit", runs, "--form", "kaplan", "--bootstrap", "0", "--compute", "1e20", "1e22"]) == 0
    text = capsys.readouterr().out
    assert "kaplan law fitted on 25 points" in text
    assert "alpha_N" in text and "N_opt ∝ C^" in text
    rows = [line for line in text.splitlines() if line.startswith(("1e+20", "1e+22"))]
    assert len(rows) == 2


def write_tensorboard_run(logdir, N, D_final, law, overfit=0.0, loss_tag="val_loss", trained_on=False):
    """A run as the callback logs it: N, tokens and the validation loss at each validation.

    The loss follows the law along the run; `overfit` lifts the last validation above it;
    `trained_on` logs more tokens after the last validation (training went on unvalidated).
    """
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    steps = np.arange(1, 11) * 100
    for step, tokens in zip(steps, D_final * steps / steps[-1]):
        loss = float(law.loss(N, tokens)) + (overfit if step == steps[-1] else 0.0)
        writer.add_scalar("scaling/params_non_embedding", N, int(step))
        writer.add_scalar("scaling/tokens", tokens, int(step))
        writer.add_scalar(loss_tag, loss, int(step))
    if trained_on:
        writer.add_scalar("scaling/tokens", 2 * D_final, int(2 * steps[-1]))
    writer.close()


def test_cli_fit_reads_tensorboard_runs_of_the_callback(tmp_path, capsys):
    truth = TRUE_CHINCHILLA
    runs, lifted = [], []
    for i, N in enumerate((2e6, 8e6, 3.2e7)):
        for j, D in enumerate((4e8, 1.6e9, 6.4e9)):
            runs.append(str(tmp_path / f"run{i}{j}"))
            lifted.append((i + j) % 2 == 1)
            write_tensorboard_run(runs[-1], N, D, truth, overfit=0.5 if lifted[-1] else 0.0,
                                  trained_on=(i, j) == (0, 0))

    # final: the last logged loss, with the tokens seen when it was measured
    final = read_run_points(runs)
    assert final.sources == tuple(runs)
    assert np.allclose(final.loss, truth.loss(final.N, final.D) + 0.5 * np.array(lifted), rtol=1e-6)
    # best: the lowest loss, with the tokens seen at its step (9/10 of the run where lifted)
    best = read_run_points(runs, loss="best")
    assert np.allclose(best.D, final.D * np.where(lifted, 0.9, 1.0), rtol=1e-6)
    assert np.allclose(best.loss, truth.loss(best.N, best.D), rtol=1e-6)

    # best points lie on the law, so the CLI gives the law back
    assert main(["fit", *runs, "--loss", "best", "--bootstrap", "0", "--json"]) == 0
    for name, value in json.loads(capsys.readouterr().out).items():
        assert rel(value, getattr(truth, name)) < 2e-3, name


def test_package_api_and_cli_run_without_torch(tmp_path):
    runs = write_csv(tmp_path / "runs.csv", *grid_points(TRUE_CHINCHILLA))
    code = ("import sys, scaling_callback as sc; from scaling_callback.cli import main; "
            "assert sc.fit_scaling_law and sc.ScalingLawFit and sc.read_run_points; "
            f"assert main(['fit', {runs!r}, '--bootstrap', '0', '--json']) == 0; "
            "assert not {'torch', 'lightning', 'pytorch_lightning'} & set(sys.modules), 'framework imported'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"E", "A", "B", "alpha", "beta"}


def test_cli_plot_without_matplotlib_says_how_to_install(tmp_path, capsys, monkeypatch):
    runs = write_csv(tmp_path / "runs.csv", *grid_points(TRUE_CHINCHILLA))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the plot extra were not installed
    err = _cli_error(["fit", runs, "--bootstrap", "0", "--plot", str(tmp_path / "fit.png")], capsys)
    assert "pip install 'scaling-callback[plot]'" in err
    assert not (tmp_path / "fit.png").exists()


def _cli_error(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    return err


def test_cli_input_errors_exit_with_a_message(tmp_path, capsys):
    N, D, L = grid_points(TRUE_CHINCHILLA)
    one_size = write_csv(tmp_path / "one_size.csv", np.full(6, 1e8), np.logspace(9, 10, 6), np.linspace(3, 2.5, 6))
    assert "N varied" in _cli_error(["fit", one_size], capsys)
    few = write_csv(tmp_path / "few.csv", N[:3], D[:3], L[:3])
    assert "needs at least 5 points" in _cli_error(["fit", few], capsys)
    negative = write_csv(tmp_path / "negative.csv", N, D, np.where(np.arange(L.size) == 4, -1.0, L))
    assert "negative.csv:6: loss = -1.0" in _cli_error(["fit", negative], capsys)
    (tmp_path / "nocol.csv").write_text("N,tokens,loss\n1e8,1e9,3\n")
    assert "no column D" in _cli_error(["fit", str(tmp_path / "nocol.csv")], capsys)
    assert "no such file" in _cli_error(["fit", str(tmp_path / "absent.csv")], capsys)
    (tmp_path / "header.csv").write_text("N,D,loss\n")
    assert "no rows under the header" in _cli_error(["fit", str(tmp_path / "header.csv")], capsys)
    write_tensorboard_run(tmp_path / "run", 1e7, 1e9, TRUE_CHINCHILLA, loss_tag="val/loss")
    err = _cli_error(["fit", str(tmp_path / "run")], capsys)
    assert "'val_loss'" in err and "val/loss" in err
    (tmp_path / "empty").mkdir()
    assert "no TensorBoard event file" in _cli_error(["fit", str(tmp_path / "empty")], capsys)
    (tmp_path / "bad.json").write_text("{}")
    assert "not a saved scaling-law fit" in _cli_error(["plan", "--compute", "1e21", "--fit",
                                                        str(tmp_path / "bad.json")], capsys)
    fit = fit_scaling_law(N, D, L, n_bootstrap=0)
    fit.save(tmp_path / "fit.json")
    assert "compute must be a positive" in _cli_error(["plan", "--compute", "-1", "--fit",
                                                       str(tmp_path / "fit.json")], capsys)


def test_cli_fit_holdout_predicts_kept_out_runs_and_draws_them(tmp_path, capsys):
    """Fit Gadre et al.'s RedPajama models below 0.5B, hold out the 1.4B and 6.9B ones."""
    gadre = ROOT / "data" / "scaling" / "gadre_overtraining.csv"
    with open(gadre) as f:
        rows = [r for r in csv.DictReader(f) if r["train_dataset"] == "rpj" and r["eval_set"] == "paloma_redpajama"]
    small, big = tmp_path / "small.csv", tmp_path / "big.csv"
    for path, keep in ((small, lambda n: n < 5e8), (big, lambda n: n >= 5e8)):
        path.write_text("N,D,loss\n" + "".join(f"{r['params']},{r['train_tokens']},{r['eval_loss']}\n"
                                               for r in rows if keep(float(r["params"]))))
    figure = tmp_path / "fit.png"
    assert main(["fit", str(small), "--holdout", str(big), "--bootstrap", "5", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "held-out run" in out and "over 3 held-out runs" in out and figure.stat().st_size > 10_000
    assert main(["fit", str(small), "--holdout", str(big), "--bootstrap", "0", "--json"]) == 0
    held = json.loads(capsys.readouterr().out)["holdout"]
    assert len(held) == 3
    for h in held:  # the 1.4B and 6.9B runs within 15% of the law's prediction
        assert abs(h["predicted"] / h["loss"] - 1) < 0.15
    assert main(["fit", str(small), "--holdout", str(tmp_path / "none.csv")]) == 2
