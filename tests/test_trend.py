"""The live link's maths: a run's forecast against its family's cross-run law."""
import numpy as np
import pytest

from scaling_callback.core.crossrun import ChinchillaLaw, ScalingLawError, ScalingLawFit, fit_scaling_law
from scaling_callback.core.crossrun.trend import load_fit, trend_check

LAW = ChinchillaLaw(E=1.8, A=400.0, B=2000.0, alpha=0.35, beta=0.37)


def family_fit():
    N, D = np.meshgrid(np.logspace(7, 9, 5), np.logspace(9, 11, 5))
    N, D = N.ravel(), D.ravel()
    L = LAW.loss(N, D) * np.exp(np.random.default_rng(0).normal(0, 0.003, N.size))
    return fit_scaling_law(N, D, L, n_bootstrap=40, confidence=0.8)


def test_on_above_and_below_the_trend():
    fit = family_fit()
    truth = float(LAW.loss(3e8, 6e9))
    on = trend_check(fit, 3e8, 6e9, truth, truth - 0.02, truth + 0.02)
    assert on.direction == "on" and not on.off_trend
    assert on.expected.value == pytest.approx(truth, rel=0.01)
    worse = trend_check(fit, 3e8, 6e9, truth + 0.3, truth + 0.25, truth + 0.35)
    assert worse.direction == "above" and worse.off_trend and worse.gap > 0.25
    assert "above its family's trend" in worse.message
    better = trend_check(fit, 3e8, 6e9, truth - 0.3, truth - 0.35, truth - 0.25)
    assert better.direction == "below" and better.gap < 0


def test_points_without_intervals():
    fit = ScalingLawFit(law=LAW)
    truth = float(LAW.loss(1e8, 2e9))
    assert trend_check(fit, 1e8, 2e9, truth, truth - 0.01, truth + 0.01).direction == "on"
    assert trend_check(fit, 1e8, 2e9, truth + 0.05).direction == "above"


def test_bad_input_raises_scaling_law_error(tmp_path):
    fit = ScalingLawFit(law=LAW)
    for args in ((0, 1e9, 3.0), (1e8, -1, 3.0), (1e8, 1e9, float("nan")), (1e8, 1e9, None)):
        with pytest.raises(ScalingLawError):
            trend_check(fit, *args)
    with pytest.raises(ScalingLawError, match="cannot read"):
        load_fit(tmp_path / "missing.json")
    with pytest.raises(ScalingLawError, match="ScalingLawFit or the path"):
        load_fit(42)
    fit.save(tmp_path / "fit.json")
    assert load_fit(str(tmp_path / "fit.json")).law == LAW
