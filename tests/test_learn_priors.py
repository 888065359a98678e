"""benchmarks/learn_priors.py on a small fixed subset of the development curves: what
DEFAULT_PRIORS are learnt from (the fits, the exponent prior, the drop prior, the interval's
calibration) cannot change silently in a refactor. A deliberate change of the learning updates
the expected values here AND re-learns DEFAULT_PRIORS (`python3 benchmarks/learn_priors.py`)."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from curve_runs import SOURCES, load_runs  # noqa: E402
from learn_priors import learn_priors  # noqa: E402


def test_learn_priors_on_two_runs_a_source_gives_the_recorded_priors():
    runs = load_runs(max_runs=2)  # the first and last run (by id) of each of the six sources
    assert sorted({r.source for r in runs}) == sorted(SOURCES) and len(runs) == 12
    p = learn_priors(runs)
    assert p.log_alpha == (-0.8, 0.1)
    assert p.anneal == pytest.approx((0.06628, -0.02032, 0.03154), abs=2e-4)
    assert [(d.C, d.beta, d.gamma, d.weight, d.power) for d in p.drops] == [(0.11, 0.59, 0.64, 1.0, 1.0)]
    assert p.noise == pytest.approx(0.00279, abs=2e-5)
    assert (p.interval_own, p.interval_hindcast, p.interval_sensitivity, p.interval_ahead) == (0.0, 1.0, 1.0, 0.1)
    assert p.interval_z == pytest.approx((-4.9064, 2.7321), abs=2e-3)
    # two runs a source leave no source 15 forecasts before a decay (learn_priors.MIN_SOURCE_FORECASTS):
    # the common quantiles, its floor
    assert p.interval_z_before_decay == p.interval_z
    assert (p.min_fraction, p.window, p.anneal_nats) == (0.02, 1.0, False)


def test_forecasts_before_a_decay_are_calibrated_on_their_own_never_narrower():
    """calibrate_before_decay: the worst source's quantiles over the forecasts before a decay,
    from the sources with MIN_SOURCE_FORECASTS of them, floored by the common quantiles."""
    import numpy as np
    from learn_priors import MIN_SOURCE_FORECASTS, IntervalCases, calibrate, calibrate_before_decay
    from scaling_callback.core.forecast.interval import RawBand

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
