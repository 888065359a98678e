"""Issue 28: the ladder before it finishes. Runs still training enter the cross-run fit as their
forecasts at their planned ends, each drawn from its forecast's distribution in the bootstrap."""
import numpy as np
import pytest

from scaling_callback.core.crossrun import ScalingLawError, ScalingLawFit, fit_scaling_law
from scaling_callback.core.crossrun.uncertain import draw_log_losses, log_loss_scales
from test_crossrun import TRUE_CHINCHILLA


def ladder_points(noise=0.004, seed=0):
    """A 4-size × 3-length ladder under the true Chinchilla law, with a little noise."""
    N = np.repeat([1e7, 3e7, 1e8, 3e8], 3)
    D = np.tile([2e8, 6e8, 2e9], 4) * np.repeat([1.0, 1.5, 2.0, 3.0], 3)
    L = TRUE_CHINCHILLA.loss(N, D) * np.exp(np.random.default_rng(seed).normal(0.0, noise, N.size))
    return N, D, L


def n_opt_ratio(fit, compute):
    n = fit.compute_optimal(compute).N
    return n.high / n.low


def test_forecast_points_widen_every_interval_and_finished_points_are_themselves():
    N, D, L = ladder_points()
    finals = fit_scaling_law(N, D, L, n_bootstrap=100, seed=0)
    low, high = L * 0.97, L * 1.02  # a forecast's skewed interval at 0.8
    forecasts = fit_scaling_law(N, D, L, n_bootstrap=100, seed=0, loss_low=low, loss_high=high)
    assert forecasts.law == finals.law  # the law itself is fitted on the forecasts' medians
    assert forecasts.n_forecast == N.size and len(forecasts.ladder_laws) > 80
    budget = 10 * 6 * N.max() * D.max()
    assert n_opt_ratio(forecasts, budget) > 1.5 * n_opt_ratio(finals, budget)
    for name, est in finals.parameters.items():
        wide = forecasts.parameters[name]
        assert wide.high - wide.low > est.high - est.low, name
    nan = np.full(N.size, np.nan)  # every run finished: the very same fit
    same = fit_scaling_law(N, D, L, n_bootstrap=100, seed=0, loss_low=nan, loss_high=nan)
    assert same.bootstrap_laws == finals.bootstrap_laws and same.n_forecast == 0 and same.ladder_laws == ()


def test_the_draws_keep_the_forecast_median_and_both_interval_ends():
    loss, low, high = np.array([3.0, 2.5]), np.array([2.8, np.nan]), np.array([3.3, np.nan])
    scales = log_loss_scales(loss, low, high, 0.8)
    draws = np.exp(draw_log_losses(np.log(loss), scales, 200_000, 0))
    q = np.quantile(draws[:, 0], [0.1, 0.5, 0.9])
    assert np.allclose(q, [2.8, 3.0, 3.3], rtol=2e-3)  # skewed: a normal could not hold all three
    assert np.all(draws[:, 1] == 2.5)  # a finished run is itself


@pytest.mark.parametrize("kwargs, words", [
    (dict(loss_low=[1.0] * 12), "together"),
    (dict(loss_low=[1.0] * 11, loss_high=[9.0] * 11), "one value per point"),
    (dict(loss_low=[9.0] * 12, loss_high=[9.5] * 12), "must hold its loss"),
    (dict(loss_low=[np.nan] + [1.0] * 11, loss_high=[9.0] * 12), "point 0"),
    (dict(loss_low=["a"] * 12, loss_high=[9.0] * 12), "must be numbers"),
    (dict(loss_low=[1.0] * 12, loss_high=[9.0] * 12, loss_confidence=1.5), "loss_confidence"),
])
def test_bad_forecast_intervals_are_named(kwargs, words):
    N, D, L = ladder_points()
    with pytest.raises(ScalingLawError, match=words):
        fit_scaling_law(N, D, L, n_bootstrap=0, **kwargs)


def test_a_saved_fit_keeps_its_ladder_laws(tmp_path):
    N, D, L = ladder_points()
    fit = fit_scaling_law(N, D, L, n_bootstrap=20, seed=0, loss_low=L * 0.98, loss_high=L * 1.01)
    fit.save(tmp_path / "fit.json")
    back = ScalingLawFit.load(tmp_path / "fit.json")
    assert back.ladder_laws == fit.ladder_laws and back.n_forecast == fit.n_forecast == 12


# ------------------------------------------------------------------ the CLI on a ladder still training

import json  # noqa: E402

import lightning.pytorch as L  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from scaling_callback import ScalingLawCallback  # noqa: E402
from scaling_callback.cli import main  # noqa: E402
from test_crossrun import write_csv  # noqa: E402
from test_forecast_callback import StopAt  # noqa: E402
from tiny_models import CurveModule, curve_loaders, trainer_kwargs  # noqa: E402

LADDER_LAW = type(TRUE_CHINCHILLA)(E=1.5, A=30.0, B=40.0, alpha=0.4, beta=0.45)
TOKENS_PER_STEP = 8  # curve_loaders: batches of 2 sequences of 4 tokens
PLANNED = 400


class SizedCurveModule(CurveModule):
    """CurveModule with `n_extra` more (untrained) parameters, whose validation loss follows
    LADDER_LAW along its tokens: a rung of a ladder in seconds."""

    def __init__(self, n_extra):
        n = n_extra + 1
        super().__init__(lambda step, rank=0: float(LADDER_LAW.loss(n, TOKENS_PER_STEP * max(step, 1))))
        self.extra = nn.Parameter(torch.zeros(n_extra))


def lightning_rung(root, n_extra, stop=None):
    trainer = L.Trainer(callbacks=[ScalingLawCallback()] + ([StopAt(stop)] if stop else []),
                        logger=L.loggers.TensorBoardLogger(str(root), name="tb", version=f"n{n_extra}"),
                        **trainer_kwargs(root, max_steps=PLANNED, val_check_interval=20, limit_val_batches=1))
    trainer.fit(SizedCurveModule(n_extra), *curve_loaders(PLANNED))
    return str(root / "tb" / f"n{n_extra}")


def test_a_law_on_three_lightning_runs_stopped_at_half_has_wider_intervals(tmp_path, capsys):
    """Issue 28's "done when": the three largest rungs of a ladder, real Lightning runs stopped at
    half their planned length, widen every interval of the law against the same runs finished.
    Six finished smaller rungs (a CSV) complete the ladder: the law has 5 parameters, so three
    points alone cannot fit it."""
    N, D = np.repeat([300.0, 1000.0], 3), np.tile([800.0, 1600.0, 3200.0], 2)
    small = write_csv(tmp_path / "small.csv", N, D, LADDER_LAW.loss(N, D))
    widths = {}
    for name, stop in (("finished", None), ("half", PLANNED // 2)):
        runs = [lightning_rung(tmp_path / name, n, stop) for n in (3000, 10000, 30000)]
        capsys.readouterr()
        assert main(["fit", small, *runs, "--bootstrap", "100", "--json"]) == 0
        captured = capsys.readouterr()
        params = json.loads(captured.out)
        widths[name] = {k: np.log(v["high"] / v["low"]) for k, v in params.items() if isinstance(v, dict)}
        assert params.get("forecast_points", 0) == (3 if stop else 0)
        assert ("3 run(s) still training" in captured.err) == bool(stop)
    for k in ("alpha", "beta", "A", "B"):
        assert widths["half"][k] > widths["finished"][k], k


# a handful of rungs of lr_scheduling.csv's SlimPajama ladder (WSD, 20% cool-down) and its largest
# run: replaying the whole file forecast every one of its 100+ runs (10 s a test)
SMALL_LADDER = ("fsp_sp33m_wsd0.2l_lr0.001_T3000_sl", "fsp_sp33m_wsd0.2l_lr0.001_T7000_sl",
                "fsp_sp53m_wsd0.2l_lr0.001_T3650_sl", "fsp_sp53m_wsd0.2l_lr0.001_T7500_sl",
                "fsp_sp60m_wsd0.2l_lr0.001_T7500_sl", "fsp_sp60m_wsd0.2l_lr0.001_T12500_sl",
                "fsp_sp93m_wsd0.2l_lr0.001_T10000_sl", "fsp_sp93m_wsd0.2l_lr0.001_T17500_sl")
BIG_RUN = "fsp_sp360m_wsd0.2l_lr0.0005_T37500_sl"


@pytest.fixture(scope="module")
def small_curves(tmp_path_factory):
    """A curves CSV of SMALL_LADDER and BIG_RUN, cut out of data/curves/lr_scheduling.csv."""
    keep = set(SMALL_LADDER) | {BIG_RUN}
    path = tmp_path_factory.mktemp("ladder") / "curves.csv"
    with open("data/curves/lr_scheduling.csv") as src, open(path, "w") as out:
        out.write(next(src))
        out.writelines(line for line in src if line.split(",", 1)[0] in keep)
    return str(path)


def test_cli_replays_a_ladder_from_curves_with_a_holdout(small_curves, tmp_path, capsys):
    figure = tmp_path / "ladder.png"
    assert main(["fit", small_curves, "--runs", "data/curves/runs.csv", "--upto-fraction", "0.4",
                 "--holdout", BIG_RUN, "--bootstrap", "20", "--json", "--plot", str(figure)]) == 0
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the ladder's figure: plots.plot_ladder
    obj = json.loads(capsys.readouterr().out)
    assert {"E", "A", "B", "alpha", "beta"} <= set(obj) and obj["forecast_points"] == len(SMALL_LADDER)
    (held,) = obj["holdout"]
    assert held["run"] == BIG_RUN and held["loss"] == pytest.approx(2.702, abs=1e-3)
    assert held["predicted"]["low"] < held["predicted"]["value"] < held["predicted"]["high"]


@pytest.mark.parametrize("argv, words", [
    (["--upto-fraction", "0.4"], "needs --runs"),
    (["--runs", "data/curves/runs.csv", "--upto-fraction", "1.5"], "--upto-fraction must be"),
    (["--runs", "data/curves/runs.csv", "--holdout", "nope"], "--holdout nope: not a run"),
])
def test_cli_ladder_options_are_checked(argv, words, capsys):
    assert main(["fit", "data/curves/gemstones.csv", "--bootstrap", "0", *argv]) == 2
    assert words in capsys.readouterr().err


def test_the_ladder_decides_when_its_forecasts_are_tight():
    from scaling_callback.core.crossrun.decision import ladder_decision

    N, D, L = ladder_points()
    budget = 10 * 6 * N.max() * D.max()
    finished = ladder_decision(fit_scaling_law(N, D, L, n_bootstrap=50, seed=0), budget)
    assert finished.decided and finished.move_factor == 1.0
    loose = fit_scaling_law(N, D, L, n_bootstrap=50, seed=0, loss_low=L * 0.95, loss_high=L * 1.05)
    tight = fit_scaling_law(N, D, L, n_bootstrap=50, seed=0, loss_low=L * 0.9995, loss_high=L * 1.0005)
    assert not ladder_decision(loose, budget).decided and ladder_decision(tight, budget).decided
    assert ladder_decision(loose, budget).move_factor > ladder_decision(tight, budget).move_factor
    with pytest.raises(ScalingLawError, match="factor"):
        ladder_decision(loose, budget, factor=1.0)


def test_cli_says_whether_the_ladder_has_decided(small_curves, capsys):
    assert main(["fit", small_curves, "--runs", "data/curves/runs.csv", "--upto-fraction", "0.6",
                 "--bootstrap", "20", "--compute", "1e20"]) == 0
    out = capsys.readouterr().out
    assert f"{len(SMALL_LADDER) + 1} point(s) are forecasts of runs still training" in out
    assert "the ladder has decided a budget when finishing them cannot move N_opt by more than 1.3x" in out
    assert "1e+20 FLOPs: N_opt " in out and "decided" in out


def test_cli_says_how_far_n_opt_and_d_opt_moved_since_the_last_fit(tmp_path, capsys):
    """--since PREVIOUS.json: each budget's compute-optimal N, D under the saved fit and now, and
    the factor they moved by (issue 28's decision readout)."""
    then_csv = write_csv(tmp_path / "then.csv", *ladder_points(noise=0.004, seed=0))
    now_csv = write_csv(tmp_path / "now.csv", *ladder_points(noise=0.004, seed=1))
    saved = str(tmp_path / "then.json")
    assert main(["fit", then_csv, "--bootstrap", "0", "--save", saved, "--json"]) == 0
    capsys.readouterr()
    assert main(["fit", now_csv, "--bootstrap", "0", "--since", saved, "--compute", "1e20", "1e21", "--json"]) == 0
    since = json.loads(capsys.readouterr().out)["since"]
    then, now = ScalingLawFit.load(saved), fit_scaling_law(*ladder_points(noise=0.004, seed=1), n_bootstrap=0)
    assert [m["compute"] for m in since] == [1e20, 1e21]
    for m in since:
        assert m["N_opt_then"] == pytest.approx(then.compute_optimal(m["compute"]).N.value)
        assert m["N_opt_now"] == pytest.approx(now.compute_optimal(m["compute"]).N.value, rel=1e-6)
        assert m["N_opt_factor"] == pytest.approx(m["N_opt_now"] / m["N_opt_then"])
        assert m["D_opt_factor"] == pytest.approx(m["D_opt_now"] / m["D_opt_then"])
        assert m["N_opt_factor"] != 1.0
    assert main(["fit", now_csv, "--bootstrap", "0", "--since", saved, "--compute", "1e20"]) == 0
    out = capsys.readouterr().out
    assert f"since {saved}: compute-optimal N, D then -> now (factor moved)" in out
    assert f"{since[0]['N_opt_factor']:.3g}x" in out and "1e+20 FLOPs: N_opt " in out


@pytest.mark.parametrize("content, words", [(None, "--since {path}: No such file"),
                                            ('{"form": "chinchilla"}', "--since {path}: ")])
def test_cli_since_a_missing_or_malformed_fit_is_one_line(tmp_path, capsys, content, words):
    path = tmp_path / "previous.json"
    if content is not None:
        path.write_text(content)
    csv_path = write_csv(tmp_path / "now.csv", *ladder_points())
    assert main(["fit", csv_path, "--bootstrap", "0", "--since", str(path)]) == 2
    err = capsys.readouterr().err
    assert words.format(path=path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("runs_text, words", [
    ("run_id,tokens_per_step,params\nr1,8,1M\n", "needs columns run_id, planned_steps, params"),
    ("run_id,planned_steps,tokens_per_step,params\nr1,,8,1M\n", "run r1: planned_steps and tokens_per_step must be numbers"),
])
def test_cli_runs_csv_without_a_runs_planned_steps_is_one_line(tmp_path, capsys, runs_text, words):
    runs = tmp_path / "runs.csv"
    runs.write_text(runs_text)
    assert main(["fit", "data/curves/gemstones.csv", "--runs", str(runs), "--bootstrap", "0"]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
