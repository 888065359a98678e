"""The cross-run fit's search: analytic Jacobians, the batched optimiser's optima against scipy's,
whose speed benchmarks/crossrun_fit.py measures."""
import csv
from pathlib import Path

import numpy as np
import pytest

from scaling_callback.core.crossrun import ChinchillaLaw, fit_scaling_law
from scaling_callback.core.crossrun.laws import MUENNIGHOFF_2023
from scaling_callback.core.crossrun.search import local_fit, objective_on, resample_rows
from scaling_callback.core.crossrun.space import FIT_SPACES
from scaling_callback.core.robust import huber, huber_fit, huber_newton

CHINCHILLA_CSV = Path(__file__).resolve().parents[1] / "data" / "scaling" / "chinchilla_svg_extracted.csv"


def chinchilla_points():
    """The 240 points Besiroglu et al. fit: D = C/(6N), the 5 highest losses dropped."""
    with open(CHINCHILLA_CSV) as f:
        rows = list(csv.DictReader(f))
    N, C, L = (np.array([float(r[k]) for r in rows]) for k in ("N", "C", "loss"))
    keep = np.argsort(L)[:-5]
    return N[keep], C[keep] / (6 * N[keep]), L[keep]


def ladder():
    """24 runs: 6 sizes × 4 tokens-per-parameter of a Chinchilla law, 1% noise."""
    N = np.repeat(np.logspace(6.5, 8.5, 6), 4)
    D = N * np.tile([5.0, 10.0, 20.0, 40.0], 6)
    law = ChinchillaLaw(E=1.8, A=400.0, B=2000.0, alpha=0.35, beta=0.37)
    return N, D, law.loss(N, D) * np.exp(np.random.default_rng(0).normal(0, 0.01, N.size))


@pytest.mark.parametrize("form", ["chinchilla", "kaplan", "muennighoff"])
def test_analytic_jacobians_match_central_differences(form):
    space = FIT_SPACES[form]
    rng = np.random.default_rng(0)
    logN, logD = np.log(np.logspace(7, 10, 12)), np.log(np.logspace(9, 12, 12))
    logU = np.log(np.logspace(8.5, 11, 12)[::-1]) if form == "muennighoff" else None
    p = space.grid[rng.choice(len(space.grid), 20)] + rng.normal(0, 0.1, (20, space.grid.shape[1]))
    p = np.clip(p, np.array(space.lower) + 1e-3, np.array(space.upper) - 1e-3)
    value, jac = space.log_loss_jac(p, logN, logD, logU)
    assert jac.shape == (20, p.shape[1], 12)
    assert np.allclose(value, space.log_loss(p, logN, logD, logU), rtol=0, atol=1e-12)
    for i in range(p.shape[1]):
        h = 1e-6 * np.maximum(1.0, np.abs(p[:, i]))[:, None]
        up, down = p.copy(), p.copy()
        up[:, i] += h[:, 0]
        down[:, i] -= h[:, 0]
        numeric = (space.log_loss(up, logN, logD, logU) - space.log_loss(down, logN, logD, logU)) / (2 * h)
        assert np.allclose(jac[:, i], numeric, rtol=1e-5, atol=1e-7), i
    if form == "muennighoff":  # both sides of U_N = min(N, compute-optimal N for U) were checked
        a, b, _, alpha, beta = (p[:, j, None] for j in range(5))
        log_g = (np.log(alpha) + a - np.log(beta) - b) / (alpha + beta)
        below = log_g + beta / alpha * (logU + log_g) < logN
        assert below.any() and (~below).any()


def test_batched_optimiser_meets_scipy_with_a_bound_held():
    """A linear Huber fit whose optimum sits on a bound: huber_newton and scipy's least_squares
    reach the same point."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(40, 3))
    y = A @ np.array([1.0, -2.0, 0.5]) + rng.standard_t(2, 40) * 0.05
    lower, upper = (-np.inf, -1.0, -np.inf), (np.inf, np.inf, np.inf)  # -2 lies below: held at -1

    def model(x, rows):
        return x @ A.T - y, np.broadcast_to(A.T, (len(x), 3, 40))

    batch = huber_newton(model, [[0.0, 0.0, 0.0], [5.0, 3.0, -4.0]], lower, upper, delta=0.01)
    ref = huber_fit(lambda p: A @ p - y, [[0.0, 0.0, 0.0]], lower, upper, delta=0.01)
    assert batch.converged.all()
    assert batch.params[:, 1] == pytest.approx([-1.0, -1.0])
    assert np.allclose(batch.params, ref.params, atol=1e-6)
    assert batch.cost == pytest.approx([ref.cost] * 2, rel=1e-9)


def test_an_exactly_singular_step_matrix_takes_the_pseudo_inverse():
    """Two parameters that enter the residuals alike, every residual within δ, "irls" damping:
    the damped matrix is (1 + λ)·JJᵀ, exactly singular. np.linalg.solve raised LinAlgError
    ("Singular matrix") out of huber_newton, and so out of fit_scaling_law on a bootstrap
    resample of lr_scheduling.csv's OpenWebText2 ladder; the step is now the pseudo-inverse's."""
    t = np.linspace(1.0, 2.0, 5)

    def model(x, rows):
        return (x[:, :1] + x[:, 1:]) * t - 3.0 * t, np.broadcast_to(t, (len(x), 2, t.size))

    batch = huber_newton(model, [[0.0, 0.0], [4.0, -2.0]], (-10.0, -10.0), (10.0, 10.0), delta=100.0,
                         damping="irls")
    assert batch.converged.all() and np.isfinite(batch.params).all()
    assert batch.params.sum(axis=1) == pytest.approx([3.0, 3.0])


def test_point_estimate_is_the_optimum_to_a_millionth():
    """Hoffmann's 240 points: the fit lands on the optimum that every one of the 10 starts reaches
    when run to rounding (FTOL 0), to 1e-6 relative in every parameter; the cost is no higher
    than scipy's least_squares reaches from the same starts."""
    N, D, L = chinchilla_points()
    fit = fit_scaling_law(N, D, L, n_bootstrap=0)
    optimum = dict(E=1.8172181, A=477.825874, B=2143.41733, alpha=0.3473105, beta=0.367172432)
    for name, value in optimum.items():
        assert getattr(fit.law, name) == pytest.approx(value, rel=1e-6), name
    assert fit.cost <= 0.00101827401754 * (1 + 1e-12)


def test_bootstrap_refits_are_no_worse_than_scipys():
    """Each batched refit's objective on its resample is at most what scipy's least_squares
    reaches from the same two starts (the previous release's search)."""
    N, D, L = ladder()
    space = FIT_SPACES["chinchilla"]
    logs = np.log(N), np.log(D), np.log(L)
    fit = fit_scaling_law(N, D, L, n_bootstrap=6, seed=5)
    ranked = space.grid[np.argsort(objective_on(space, space.grid, *logs, 1e-3), kind="stable")]
    for law, idx in zip(fit.bootstrap_laws, resample_rows(N, D, 6, 5)):
        x = tuple(a[idx] for a in logs)
        start = ranked[:50][np.argmin(objective_on(space, ranked[:50], *x, 1e-3))]
        scipy_cost = min(_scipy_refit(space, p, x) for p in (np.array(fit_coords(fit.law)), start))
        ours = huber(space.log_loss(np.array(fit_coords(law)), *x[:2]) - x[2], 1e-3).sum()
        assert ours <= scipy_cost * (1 + 1e-9)


def fit_coords(law):
    return [np.log(law.A), np.log(law.B), np.log(law.E), law.alpha, law.beta]


def _scipy_refit(space, start, x):
    """The previous release's local fit: scipy from `start`, restarted until it stops falling."""
    def residuals(p):
        return space.log_loss(p, *x[:2]) - x[2]
    best = huber_fit(residuals, [start], space.lower, space.upper, delta=1e-3)
    while True:
        again = huber_fit(residuals, [best.params], space.lower, space.upper, delta=1e-3)
        if not again.cost < best.cost * (1 - 1e-9):
            return best.cost
        best = again


@pytest.mark.parametrize("points", [chinchilla_points, ladder], ids=["chinchilla-240", "ladder-24"])
def test_every_one_of_200_resamples_is_refitted(points):
    """Every resample of these points identifies the law; its speed is benchmarks/crossrun_fit.py's."""
    fit = fit_scaling_law(*points(), n_bootstrap=200)
    assert len(fit.bootstrap_laws) == 200


def test_muennighoff_fit_of_repeated_data_matches_the_previous_search():
    """48 runs of 4 sizes repeating 3 unique-token budgets 1-64 times (tests/test_repetition.py's
    grid), 0.3% noise, 40 resamples: the same R*_D and interval to 1e-6 as the search before the
    batched one."""
    N, U, epochs = np.meshgrid(np.logspace(7, 9.5, 4), (1e8, 1e9, 1e10), (1, 4, 16, 64))
    N, U = N.ravel(), U.ravel()
    D = U * epochs.ravel()
    L = MUENNIGHOFF_2023.loss(N, D, U) * np.exp(np.random.default_rng(1).normal(0, 0.003, N.size))
    r_d = fit_scaling_law(N, D, L, form="muennighoff", unique_tokens=U, n_bootstrap=40).parameters["R_D_star"]
    # the previous release's search gave 15.202171134755522 [14.410112059958955, 16.215403420140643]
    assert (r_d.value, r_d.low, r_d.high) == pytest.approx((15.2021711, 14.4101121, 16.2154034), rel=1e-6)


def test_local_fit_of_no_finite_start_is_none():
    space = FIT_SPACES["kaplan"]
    logN, logD = np.log([1e7, 1e8, 1e9]), np.log([1e9, 1e10, 1e11])
    assert local_fit(space, [[np.nan, 0.0, 0.1, 0.1]], logN, logD, np.log([3.0, 2.9, 2.8]), 1e-3) is None
