"""scaling_callback.core.forecast.learning on a small fixed subset of the development curves
(scaling_callback.runs): what DEFAULT_PRIORS are learnt from (the fits, the exponent prior, the
drop prior, the interval's calibration) cannot change silently in a refactor. A deliberate
change of the learning updates the expected values here AND re-learns DEFAULT_PRIORS
(`python3 tools/learn_priors.py`)."""
import os
import shutil

import numpy as np
import pytest

from scaling_callback.core.forecast.interval import RawBand
from scaling_callback.core.forecast.learning import (CUTOFFS, LOG_ALPHA_MEANS,
                                                     LOG_ALPHA_SDS, MIN_SOURCE_FORECASTS, Cases, IntervalCases,
                                                     calibrate, calibrate_before_decay, forecast_points,
                                                     learn_priors, log_typical_error, relative_errors,
                                                     tune_exponent_prior, typical_error)
from scaling_callback.runs import CURVES_DIR, SOURCES, CurveRun, load_runs, planned_steps, thin_runs


def test_learn_priors_on_two_runs_a_source_gives_the_recorded_priors():
    runs = load_runs(max_runs=2)  # the first and last run (by id) of each of the six sources
    assert sorted({r.source for r in runs}) == sorted(SOURCES) and len(runs) == 12
    p = learn_priors(runs)
    assert p.log_alpha == (-0.8, 0.1)
    assert p.anneal == pytest.approx((0.06628, -0.02032, 0.03154), abs=2e-4)
    assert [(d.C, d.beta, d.gamma, d.weight, d.power) for d in p.drops] == [(0.11, 0.59, 0.64, 1.0, 1.0)]
    assert p.noise == pytest.approx(0.00279, abs=2e-5)
    assert (p.interval_own, p.interval_hindcast, p.interval_sensitivity, p.interval_ahead) == (0.25, 1.0, 1.0, 0.2)
    assert p.interval_z == pytest.approx((-2.4278, 1.2646), abs=2e-3)
    assert p.interval_z_before_decay is None  # learning.SPLIT_BEFORE_DECAY is off
    assert (p.min_fraction, p.window, p.anneal_nats) == (0.02, 1.0, False)


def test_forecasts_before_a_decay_are_calibrated_on_their_own_never_narrower():
    """calibrate_before_decay: the worst source's quantiles over the forecasts before a decay,
    from the sources with MIN_SOURCE_FORECASTS of them, floored by the common quantiles."""

    def cases(z_by_source):  # S = 1 (g_h = 1, w_h = 1), no noise: z = (truth − m)/m
        z = np.concatenate([np.asarray(v, float) for v, _ in z_by_source.values()])
        before = np.concatenate([np.full(len(v), b, float) for v, b in z_by_source.values()])
        one, zero = np.ones(len(z)), np.zeros(len(z))
        raw = RawBand(one, one, one, one, zero, zero, zero, before)
        source = np.concatenate([[name.split("/")[0]] * len(v) for name, (v, _) in z_by_source.items()])
        return IntervalCases(raw, 1.0 + z, source, np.full(len(z), 0.4))

    spread = np.linspace(-1, 1, 21)
    weights = (0.0, 1.0, 0.0, 0.0)
    # b's ten forecasts before a decay are far above (z 1 to 10) but too few to count; its 210
    # others keep its common quantiles near ±1, a's near ±2.4
    c = cases({"a/rest": (spread, 0), "a/before": (4 * spread, 1), "b/rest": (np.tile(spread, 10), 0),
               "b/before": (10 * spread[-MIN_SOURCE_FORECASTS + 5:], 1)})
    z_lo, z_hi = calibrate(c, *weights)
    assert -3.2 < z_lo < -2 and 2 < z_hi < 3.2
    assert calibrate_before_decay(c, *weights) == pytest.approx((-3.2, 3.2), abs=1e-9)  # a's before alone
    c = cases({"a/rest": (4 * spread, 0), "a/before": (spread, 1)})
    assert calibrate_before_decay(c, *weights) == calibrate(c, *weights)  # never narrower


def two_sources(n=40, seed=0):
    """Forecasts whose best exponent is known: each a grid of exponents with equal evidence; the
    mean at log α = a_s (the source's own: −1 for a, 0 for b) is the truth, the further from it
    the worse (1% per 0.1 of log α)."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(-2.0, 1.0, 31)
    source = np.array(["a"] * n + ["b"] * n)
    own = np.where(source == "a", -1.0, 0.0)
    truth = 3.0 + 0.1 * rng.standard_normal(2 * n)
    mean = truth[:, None] * (1 + 0.1 * (grid[None, :] - own[:, None]))
    J = len(grid)
    return Cases(source, np.full(2 * n, 0.4), truth, np.tile(grid, (2 * n, 1)), np.zeros((2 * n, J)), mean,
                 np.full((2 * n, J), 0.003))


def test_the_exponent_prior_is_the_grid_point_with_the_lowest_geometric_mean_error():
    cases = two_sources()
    best = tune_exponent_prior(cases)
    assert best[0] in LOG_ALPHA_MEANS and best[1] in LOG_ALPHA_SDS
    assert -1.05 <= best[0] <= 0.05  # between the two sources' own exponents
    grid = [(float(m), s) for m in LOG_ALPHA_MEANS for s in LOG_ALPHA_SDS]
    assert typical_error(cases, best) == min(typical_error(cases, g) for g in grid)
    # a source's own exponent, narrowly: its median error is far below the other's
    err = relative_errors(cases, (-1.0, 0.1))
    assert log_typical_error(err, cases.source, "a") < log_typical_error(err, cases.source, "b") - 2


def test_load_runs_takes_one_source_as_a_string_and_a_curves_file_by_path(tmp_path):
    one = load_runs("modded_nanogpt_track2", max_runs=3)
    assert len(one) == 3 and {r.source for r in one} == {"modded_nanogpt_track2"}
    assert [r.run_id for r in load_runs(["modded_nanogpt_track2"], max_runs=3)] == [r.run_id for r in one]
    assert isinstance(one[0], CurveRun) and one[0].seen(1.0)[0][-1] == one[0].final_step
    # explicit files: a curves CSV (its source is the file's name) and a runs CSV elsewhere
    shutil.copy(os.path.join(CURVES_DIR, "modded_nanogpt_track2.csv"), tmp_path / "mine.csv")
    shutil.copy(os.path.join(CURVES_DIR, "runs.csv"), tmp_path / "planned.csv")
    mine = load_runs(str(tmp_path / "mine.csv"), max_runs=3, runs_csv=str(tmp_path / "planned.csv"))
    assert [(r.run_id, r.final_step, r.final_loss) for r in mine] == [(r.run_id, r.final_step, r.final_loss)
                                                                       for r in one]
    assert {r.source for r in mine} == {"mine"}
    assert load_runs("no_such_source") == []
    assert set(planned_steps()) >= {r.run_id for r in load_runs(max_runs=1)}


def test_thinning_keeps_the_ends_and_forecast_points_see_enough():
    assert thin_runs(list(range(10)), 4) == [0, 3, 6, 9] and thin_runs([1, 2], None) == [1, 2]
    runs = load_runs("gemstones", max_runs=2)
    points = list(forecast_points(runs))
    assert {cut for _, cut, _, _ in points} <= set(CUTOFFS)
    assert all(len(steps) >= 3 and steps[-1] <= cut * run.final_step for run, cut, steps, _ in points)
