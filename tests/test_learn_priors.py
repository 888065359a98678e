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
    assert (p.min_fraction, p.window, p.anneal_nats) == (0.02, 1.0, False)
