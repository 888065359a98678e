"""Repeated data: Muennighoff et al. 2023's law (eq. 5), its published constants, the fit, the CLI."""
import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from scaling_callback.cli import main
from scaling_callback.core.crossrun import DataConstrainedLaw, ScalingLawError, ScalingLawFit, fit_scaling_law
from scaling_callback.core.crossrun.laws import MUENNIGHOFF_2023, effective_tokens

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA_CSV = ROOT / "data" / "scaling" / "chinchilla_svg_extracted.csv"


def repeated_grid(law, unique=(1e8, 1e9, 1e10), epochs=(1, 4, 16, 64)):
    """Runs of 4 model sizes on U unique tokens repeated for 1-64 epochs, with the law's loss."""
    N, U, ep = np.meshgrid(np.logspace(7, 9.5, 4), unique, epochs)
    N, U = N.ravel(), U.ravel()
    D = U * ep.ravel()
    return N, D, U, law.loss(N, D, U)


def test_published_constants_give_the_authors_own_example():
    # huggingface/datablations README, "Parametric Fit": the two models of their Figure 1 (right)
    assert MUENNIGHOFF_2023.loss(6.34e9, 242e9, 25e9) == pytest.approx(2.2256440889984477, rel=1e-12)
    assert MUENNIGHOFF_2023.loss(8.67e9, 178e9, 25e9) == pytest.approx(2.2269634075087867, rel=1e-12)


def test_effective_tokens_by_eq_5():
    u = 1e9
    assert effective_tokens(6 * u, u) == pytest.approx(u * (1 + 15.387756 * (1 - math.exp(-5 / 15.387756))))
    assert effective_tokens(0.5 * u, u) == 0.5 * u  # one pass or less: every token fresh
    assert effective_tokens(1e6 * u, u) <= u * (1 + 15.387756)  # repeated data is worth at most 1 + R*_D epochs
    assert effective_tokens(6 * u, math.inf) == 6 * u


def test_fresh_data_makes_it_chinchillas_law():
    law = MUENNIGHOFF_2023
    N, D = np.logspace(7, 10, 5), np.logspace(9, 12, 5)
    chinchilla = law.E + law.A / N**law.alpha + law.B / D**law.beta
    assert np.allclose(law.loss(N, D), chinchilla, rtol=1e-12)


def test_noise_free_points_recover_the_published_constants():
    N, D, U, L = repeated_grid(MUENNIGHOFF_2023)
    fit = fit_scaling_law(N, D, L, form="muennighoff", unique_tokens=U, n_bootstrap=0)
    assert isinstance(fit.law, DataConstrainedLaw)
    for name in DataConstrainedLaw.names:
        assert getattr(fit.law, name) == pytest.approx(getattr(MUENNIGHOFF_2023, name), rel=1e-4), name


def test_noisy_points_put_R_D_star_in_its_interval():
    N, D, U, L = repeated_grid(MUENNIGHOFF_2023)
    rng = np.random.default_rng(1)
    L = L * np.exp(rng.normal(0, 0.003, L.size))
    fit = fit_scaling_law(N, D, L, form="muennighoff", unique_tokens=U, n_bootstrap=40, confidence=0.95)
    r = fit.parameters["R_D_star"]
    assert r.low <= MUENNIGHOFF_2023.R_D_star <= r.high
    # expected loss with and without repetition: repeating costs loss
    assert fit.expected_loss(1e9, 64e9, unique_tokens=1e9).value > fit.expected_loss(1e9, 64e9).value


def test_real_fresh_data_runs_give_the_chinchilla_fit():
    """Hoffmann's 240 runs (Besiroglu et al.'s extraction) all saw fresh data: with U beyond every D
    the form must reach the Chinchilla fit of the same points (the replication's optimum)."""
    with open(CHINCHILLA_CSV) as f:
        rows = list(csv.DictReader(f))
    N, C, L = (np.array([float(r[k]) for r in rows]) for k in ("N", "C", "loss"))
    keep = np.argsort(L)[:-5]
    N, D, L = N[keep], C[keep] / (6 * N[keep]), L[keep]
    fit = fit_scaling_law(N, D, L, form="muennighoff", unique_tokens=np.full(N.size, 1e30), n_bootstrap=0)
    for name, theirs in dict(E=1.817, A=477.8, B=2143.9, alpha=0.347, beta=0.367).items():
        assert abs(getattr(fit.law, name) / theirs - 1) < 0.005, name


@pytest.mark.parametrize("kwargs, message", [
    (dict(form="muennighoff"), "needs each run's unique tokens"),
    (dict(form="chinchilla", unique_tokens=[1e9] * 6), "only enter the muennighoff form"),
    (dict(form="muennighoff", unique_tokens=[1e9] * 5 + [0]), "U must be positive"),
    (dict(form="muennighoff", unique_tokens=[1e9] * 5), "one value per point"),
])
def test_bad_unique_tokens_say_what_is_wrong(kwargs, message):
    N = np.logspace(7, 9, 6)
    with pytest.raises(ScalingLawError, match=message):
        fit_scaling_law(N, N * 20, np.linspace(3, 2, 6), n_bootstrap=0, **kwargs)


def test_cli_fits_a_csv_with_unique_tokens_and_plans_from_the_saved_fit(tmp_path, capsys):
    N, D, U, L = repeated_grid(MUENNIGHOFF_2023)
    path = tmp_path / "runs.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["N", "D", "U", "loss"])
        w.writerows(zip(N, D, U, L))
    saved = tmp_path / "fit.json"
    assert main(["fit", str(path), "--form", "muennighoff", "--bootstrap", "0", "--json", "--save", str(saved)]) == 0
    params = json.loads(capsys.readouterr().out)
    assert params["R_D_star"] == pytest.approx(15.387756, rel=1e-3)
    assert ScalingLawFit.load(saved).form == "muennighoff"
    assert main(["plan", "--compute", "1e21", "--fit", str(saved)]) == 0
    assert "N (parameters)" in capsys.readouterr().out
    # without U the form cannot be fitted: one line, exit 2
    plain = tmp_path / "plain.csv"
    plain.write_text("N,D,loss\n" + "".join(f"{n},{d},{l}\n" for n, d, l in zip(N, D, L)))
    assert main(["fit", str(plain), "--form", "muennighoff", "--bootstrap", "0"]) == 2
    assert "unique tokens" in capsys.readouterr().err


def test_cli_counts_the_seven_parameters_of_the_form(tmp_path, capsys):
    N, D, U, L = repeated_grid(MUENNIGHOFF_2023)
    path = tmp_path / "seven.csv"
    path.write_text("N,D,U,loss\n" + "".join(f"{n},{d},{u},{l}\n" for n, d, u, l in list(zip(N, D, U, L))[:7]))
    assert main(["fit", str(path), "--form", "muennighoff", "--bootstrap", "0"]) == 2
    assert "7 points for the 7 parameters of the muennighoff law" in capsys.readouterr().err
