"""Inference-aware planning (Sardana et al. 2023): training + inference FLOPs at equal loss."""
import json

import numpy as np
import pytest

from scaling_callback.cli import main
from scaling_callback.core.crossrun import ChinchillaLaw, KaplanLaw, ScalingLawError, ScalingLawFit, fit_scaling_law
from scaling_callback.core.crossrun.inference import inference_optimal

HOFFMANN = ChinchillaLaw(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)  # Hoffmann et al. 2022 eq. 2 fit
KAPLAN = KaplanLaw(N_c=6.4e13, D_c=1.8e13, alpha_N=0.076, alpha_D=0.103)  # Kaplan et al. 2020 Table 2


@pytest.mark.parametrize("law", [HOFFMANN, KAPLAN], ids=["chinchilla", "kaplan"])
def test_without_inference_it_is_the_compute_optimal_point(law):
    fit = ScalingLawFit(law=law)
    plan = inference_optimal(fit, 0.0, compute=1e22)
    N, D = law.compute_optimal(1e22)
    assert plan.chinchilla_N.value == pytest.approx(float(N), rel=1e-6)
    assert plan.N.value == pytest.approx(float(N), rel=1e-6) and plan.D.value == pytest.approx(float(D), rel=1e-6)
    assert plan.saving.value == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("law", [HOFFMANN, KAPLAN], ids=["chinchilla", "kaplan"])
def test_inference_demand_buys_a_smaller_model_trained_longer_at_the_same_loss(law):
    fit = ScalingLawFit(law=law)
    savings = []
    for T in (1e11, 1e12, 1e13):
        plan = inference_optimal(fit, T, compute=1e22)
        assert float(law.loss(plan.N.value, plan.D.value)) == pytest.approx(plan.loss, rel=1e-9)
        assert plan.N.value < plan.chinchilla_N.value and plan.D.value > plan.chinchilla_D.value
        # no model on the iso-loss curve is cheaper (independent dense search)
        N = plan.N.value * np.logspace(-0.5, 0.5, 20001)
        with np.errstate(invalid="ignore"):  # sizes too small for the loss: nan, excluded below
            if isinstance(law, ChinchillaLaw):
                D = (law.B / (plan.loss - law.E - law.A / N**law.alpha)) ** (1 / law.beta)
            else:
                D = law.D_c / (plan.loss ** (1 / law.alpha_D) - (law.N_c / N) ** (law.alpha_N / law.alpha_D))
        total = np.where(D > 0, 6 * N * D + 2 * N * T, np.inf)
        assert plan.total_flops.value <= np.nanmin(total) * (1 + 1e-9)
        assert plan.total_flops.value == pytest.approx(plan.train_flops.value + plan.inference_flops.value)
        savings.append(plan.saving.value)
    assert 0 < savings[0] < savings[1] < savings[2] < 1


def test_real_points_with_intervals():
    """Hoffmann's 240 runs: at Chinchilla's budget, serving 10^13 tokens favours a smaller model."""
    import csv
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "data" / "scaling" / "chinchilla_svg_extracted.csv"
    with open(path) as f:
        rows = list(csv.DictReader(f))
    N, C, L = (np.array([float(r[k]) for r in rows]) for k in ("N", "C", "loss"))
    keep = np.argsort(L)[:-5]
    fit = fit_scaling_law(N[keep], C[keep] / (6 * N[keep]), L[keep], n_bootstrap=20, seed=0)
    plan = inference_optimal(fit, 1e13, compute=5.76e23)
    assert plan.N.low <= plan.N.value <= plan.N.high
    # each bootstrap law aims at its own compute-optimal loss: the Chinchilla column is `plan --compute`
    same = fit.compute_optimal(5.76e23).N
    for mine, theirs in ((plan.chinchilla_N.value, same.value), (plan.chinchilla_N.low, same.low),
                         (plan.chinchilla_N.high, same.high)):
        assert mine == pytest.approx(theirs, rel=1e-5)
    assert plan.N.value < plan.chinchilla_N.value and 0 < plan.saving.value < 1


def test_bad_targets_raise_scaling_law_error():
    fit = ScalingLawFit(law=HOFFMANN)
    for kwargs in (dict(), dict(compute=1e22, loss=2.0), dict(loss=1.5), dict(loss=-1.0)):
        with pytest.raises(ScalingLawError):
            inference_optimal(fit, 1e12, **kwargs)
    for T in (-1.0, float("nan"), "many"):
        with pytest.raises(ScalingLawError):
            inference_optimal(fit, T, compute=1e22)


def test_cli_plan_with_inference_tokens(tmp_path, capsys):
    saved = tmp_path / "fit.json"
    ScalingLawFit(law=HOFFMANN).save(saved)
    assert main(["plan", "--fit", str(saved), "--compute", "5.76e23", "--inference-tokens", "2e12"]) == 0
    out = capsys.readouterr().out
    assert "Chinchilla-optimal" in out and "training + inference optimal" in out and "saves" in out
    assert main(["plan", "--fit", str(saved), "--loss", "2.0", "--inference-tokens", "1e12", "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["loss"] == 2.0 and obj["N"] < obj["chinchilla"]["N"] and obj["saving"] > 0
    assert main(["plan", "--fit", str(saved), "--loss", "1.5", "--inference-tokens", "1e12"]) == 2
    assert "cannot reach loss 1.5" in capsys.readouterr().err
    assert main(["plan", "--fit", str(saved), "--compute", "1e22", "--inference-tokens", "-5"]) == 2
    assert "inference_tokens" in capsys.readouterr().err
