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
