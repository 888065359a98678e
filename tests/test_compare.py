"""Comparing two families' laws: lower at each compute, the crossing, intervals, the CLI."""
import csv
import json
from pathlib import Path

import numpy as np
import pytest

from scaling_callback.cli import main
from scaling_callback.core.crossrun.compare import compare_fits
from scaling_callback.core.crossrun import ChinchillaLaw, ScalingLawError, ScalingLawFit, fit_scaling_law

GADRE_CSV = Path(__file__).resolve().parents[1] / "data" / "scaling" / "gadre_overtraining.csv"
BASELINE = ChinchillaLaw(E=1.8, A=400.0, B=2000.0, alpha=0.35, beta=0.37)
NEW = ChinchillaLaw(E=1.7, A=600.0, B=2600.0, alpha=0.35, beta=0.37)  # worse when small, better when large


def frontier(law, C):
    N, D = law.compute_optimal(C)
    return law.loss(N, D)


def noisy_fit(law, seed, n_bootstrap=40):
    N, D = np.meshgrid(np.logspace(7, 9, 5), np.logspace(9, 11, 5))
    N, D = N.ravel(), D.ravel()
    L = law.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0, 0.003, N.size))
    return fit_scaling_law(N, D, L, n_bootstrap=n_bootstrap, seed=seed)


def test_crossing_of_exact_laws_matches_a_dense_search():
    result = compare_fits(ScalingLawFit(law=NEW), ScalingLawFit(law=BASELINE), [1e18, 1e24])
    C = np.logspace(18, 26, 200001)
    diff = frontier(NEW, C) - frontier(BASELINE, C)
    truth = C[np.flatnonzero(np.diff(np.sign(diff)))[0]]
    assert result.crossing == pytest.approx(truth, rel=1e-3)
    assert [r.lower for r in result.rows] == ["B", "A"]  # new is worse at 1e18, better at 1e24
    assert result.rows[0].difference.low is None and result.crossing_share is None


def test_identical_laws_never_cross():
    result = compare_fits(ScalingLawFit(law=BASELINE), ScalingLawFit(law=BASELINE), [1e20])
    assert result.crossing is None and result.rows[0].difference.value == 0.0


def test_intervals_and_shares_from_bootstrap_pairs():
    a, b = noisy_fit(BASELINE, 1), noisy_fit(NEW, 2)
    result = compare_fits(a, b, [1e17, 1e19])
    early = result.rows[0]
    assert early.lower == "A" and early.a_lower_share == 1.0  # the baseline is clearly lower small
    assert early.difference.low <= early.difference.value <= early.difference.high < 0
    true_cross = compare_fits(ScalingLawFit(law=BASELINE), ScalingLawFit(law=NEW), [1e20]).crossing
    assert result.crossing_interval[0] <= true_cross <= result.crossing_interval[1]


def test_bad_budgets_and_laws_without_allocation_raise():
    fit = ScalingLawFit(law=BASELINE)
    for budgets in ([], [0.0], [float("nan")], ["big"]):
        with pytest.raises(ScalingLawError):
            compare_fits(fit, fit, budgets)
    flat = ScalingLawFit(law=ChinchillaLaw(E=2.0, A=10.0, B=2000.0, alpha=0.0, beta=0.3))
    with pytest.raises(ScalingLawError, match="no compute-optimal allocation"):
        compare_fits(fit, flat, [1e20])


def test_real_families_order_matches_their_largest_runs(tmp_path, capsys):
    """Gadre et al.: models trained on C4 against models trained on RefinedWeb, both scored on
    C4's validation split. At the 6.9B runs' compute the C4-trained family measured lower
    (2.382 against 2.455); fitted on the smaller models only, compare must say so."""
    with open(GADRE_CSV) as f:
        rows = [r for r in csv.DictReader(f) if r["eval_set"] == "c4_val" and float(r["params"]) < 5e9]
    paths = []
    for train in ("c4_original", "rw_original"):
        r = [x for x in rows if x["train_dataset"] == train]
        N, D, L = (np.array([float(x[k]) for x in r]) for k in ("params", "train_tokens", "eval_loss"))
        path = tmp_path / f"{train}.json"
        fit_scaling_law(N, D, L, n_bootstrap=20).save(path)
        paths.append(str(path))
    budget = 6 * 6.89e9 * 137.8e9
    assert main(["compare", *paths, "--compute", str(budget), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["rows"][0]
    assert row["difference"]["value"] < 0 and row["a_lower_share"] > 0.5
    figure = tmp_path / "cmp.png"
    assert main(["compare", *paths, "--plot", str(figure)]) == 0
    text = capsys.readouterr().out
    assert "P(A lower)" in text and figure.stat().st_size > 10_000


def test_cli_compare_errors_exit_2(tmp_path, capsys):
    saved = tmp_path / "a.json"
    ScalingLawFit(law=BASELINE).save(saved)
    assert main(["compare", str(saved), str(tmp_path / "missing.json")]) == 2
    assert "scaling-callback compare: error:" in capsys.readouterr().err
    assert main(["compare", str(saved), str(saved), "--compute", "-1"]) == 2
    assert "positive" in capsys.readouterr().err


# ------------------------------------------------------- issue 29, items 3-4: bad inputs to compare

def hand_fit(law, spread=0.02):
    """A fit of `law` with three bootstrap refits around it, as `fit --save` would write (no fitting)."""
    boot = tuple(ChinchillaLaw(E=law.E * (1 + k * spread), A=law.A, B=law.B, alpha=law.alpha, beta=law.beta)
                 for k in (-1, 0, 1))
    return ScalingLawFit(law=law, bootstrap_laws=boot, n_points=25, compute_range=(1e17, 1e20), n_bootstrap=3)


def test_a_fit_compared_with_itself_says_no_difference(tmp_path, capsys):
    """It printed A − B = 0 [0, 0] on every row and "B" as the lower family, P(A lower) 0.00."""
    path = tmp_path / "a.json"
    hand_fit(BASELINE).save(path)
    assert main(["compare", str(path), str(path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("1e+")]
    assert len(rows) >= 5 and all(line.rstrip().endswith("0.50        no difference") for line in rows), out
    assert "A and B give the same loss at every budget: no difference" in out and "cross" not in out
    assert main(["compare", str(path), str(path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert {r["lower"] for r in got["rows"]} == {"no difference"} and {r["a_lower_share"] for r in got["rows"]} == {0.5}


def test_lower_follows_the_interval_of_the_difference():
    from scaling_callback.core.crossrun.compare import ComparisonRow
    from scaling_callback.core.crossrun.result import Estimate

    def lower(value, low=None, high=None):
        return ComparisonRow(1e20, Estimate(2.0), Estimate(2.0 - value), Estimate(value, low, high), None).lower

    assert lower(-0.01, -0.03, 0.02) == lower(0.01, -0.02, 0.03) == "no clear difference"  # was "A", "B"
    assert lower(-0.01, -0.03, -0.001) == "A" and lower(0.01, 0.001, 0.03) == "B"
    assert lower(-0.01) == "A" and lower(0.01) == "B"  # no interval: the point estimate
    assert lower(0.0) == lower(0.0, 0.0, 0.0) == lower(1e-15, -1e-15, 1e-15) == "no difference"  # was "B"
    assert lower(0.0, -0.01, 0.01) == "no clear difference"


def test_compare_with_a_published_law_saved_without_runs(tmp_path, capsys):
    """A fit of a published law records no compute range ([NaN, NaN]): compare raised ValueError
    (math.floor of NaN) when it came first or on both sides."""
    published, ours = tmp_path / "published.json", tmp_path / "ours.json"
    ScalingLawFit(law=NEW).save(published)
    assert json.loads(published.read_text().replace("NaN", "null"))["compute_range"] == [None, None]
    hand_fit(BASELINE).save(ours)
    for pair in ((published, ours), (ours, published)):
        assert main(["compare", *map(str, pair)]) == 0
        out = capsys.readouterr().out
        assert out.count("\n1e+") == 6 and "1e+17" in out and "1e+22" in out  # the recorded runs' decades
        assert "records no runs" in out and "no intervals" in out and "nan" not in out
    figure = tmp_path / "cmp.png"
    assert main(["compare", str(published), str(ours), "--plot", str(figure)]) == 0
    assert figure.stat().st_size > 10_000
    capsys.readouterr()
    assert main(["compare", str(published), str(published)]) == 2
    err = capsys.readouterr().err
    assert "neither fit records the compute of its runs" in err and "--compute" in err and "Traceback" not in err
    assert main(["compare", str(published), str(published), "--compute", "1e21"]) == 0
    assert "neither fit records its runs' compute" in capsys.readouterr().out
