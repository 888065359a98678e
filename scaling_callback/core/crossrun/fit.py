"""`fit_scaling_law`: fit a law L(N, D) to the final losses of several runs (numpy + scipy).

Hoffmann et al. (2022) Approach 3 for every form: minimise Σ Huber_δ(log L̂ − log L) (δ = 1e-3)
in the log-sum-exp parameterisation, from the best points of a grid of starts (`space`,
`search`), then refit bootstrap resamples for intervals (`result.ScalingLawFit`).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..status import ScalingLawError
from .inputs import check_options, check_points
from .result import ScalingLawFit
from .search import BOOTSTRAP_CANDIDATES, bootstrap_laws, local_fit, objective_on
from .space import FIT_SPACES
from .uncertain import FORECAST_CONFIDENCE, log_loss_scales

__all__ = ["fit_scaling_law"]


def fit_scaling_law(
    N: Sequence[float],
    D: Sequence[float],
    loss: Sequence[float],
    form: str = "chinchilla",
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: Optional[int] = 0,
    delta: float = 1e-3,
    n_starts: int = 10,
    unique_tokens: Optional[Sequence[float]] = None,
    loss_low: Optional[Sequence[float]] = None,
    loss_high: Optional[Sequence[float]] = None,
    loss_confidence: float = FORECAST_CONFIDENCE,
) -> ScalingLawFit:
    """Fit a scaling law L(N, D) to final losses of several runs.

    N: parameters of each run (non-embedding for the Kaplan convention), D: tokens each run
    trained on, loss: its final (or best) loss, one value per run; all positive.
    form: "chinchilla" (E + A/N^α + B/D^β), "kaplan" ([(N_c/N)^(α_N/α_D) + D_c/D]^α_D) or
    "muennighoff" (E + A/N'^α + B/D'^β, Muennighoff et al. 2023 eq. 5; needs `unique_tokens`,
    the unique tokens U each run drew its D from, and runs that repeat data, D > U, to identify
    R*_D).
    Minimises Σ Huber_δ(log L̂ − log L) (Hoffmann et al. 2022 eq. 3, δ = 1e-3) from the
    `n_starts` best points of the form's starting grid (the objective is evaluated on the whole
    grid first). `n_bootstrap` resamples of the points (with replacement) are refitted for
    percentile intervals at `confidence`; 0 skips them (seed: None or a whole number ≥ 0).
    Runs still training: give `loss` as each one's forecast at its planned end (D = its planned
    tokens) and `loss_low`, `loss_high` as that forecast's interval at `loss_confidence` (0.8,
    forecast()'s level), NaN for both at a finished run's point. The law is fitted on the
    forecasts, and every bootstrap resample also draws each forecast point from the two-piece
    normal in log loss its interval implies (`uncertain`), so the intervals carry the ladder's
    uncertainty; the same number of refits on the draws alone (every point once) give
    `ladder_laws`, what finishing the runs could still change (`decision.ladder_decision`).
    Raises ScalingLawError, and no other exception, on bad input (too few points, non-positive
    values, N or D not varied, every loss equal, an option of the wrong type or range, e.g.
    delta outside (0, 1e6]) or when no start gives a fit or the fit diverges (a parameter overflows).
    """
    N, D, loss, U = check_points(N, D, loss, form, unique_tokens)
    scales = log_loss_scales(loss, loss_low, loss_high, loss_confidence)
    confidence, n_bootstrap, seed, delta, n_starts = check_options(confidence, n_bootstrap, seed, delta, n_starts)
    space = FIT_SPACES[form]
    logN, logD, logL = np.log(N), np.log(D), np.log(loss)
    logU = None if U is None else np.log(U)

    objective = objective_on(space, space.grid, logN, logD, logL, delta, logU)
    ranked = space.grid[np.argsort(objective, kind="stable")]
    best = local_fit(space, ranked[:n_starts], logN, logD, logL, delta, logU)
    if best is None:
        raise ScalingLawError(f"the {form} fit failed from every start (no finite objective)")
    law = space.to_law(best.params)
    if law is None:
        raise ScalingLawError(
            f"the {form} fit diverged (a parameter overflows a float); the losses hardly vary with N and D "
            "for this form: try the other form or runs spread over more sizes")

    boot, ladder = [], []
    if n_bootstrap:
        refit = (space, N, D, (logN, logD, logL, logU), best.params, ranked[:BOOTSTRAP_CANDIDATES], n_bootstrap, seed,
                 delta)
        boot = bootstrap_laws(*refit, scales=scales)
        if scales is not None and np.any(scales[1] > 0):
            ladder = bootstrap_laws(*refit, scales=scales, resample=False)

    C = 6.0 * N * D
    return ScalingLawFit(
        law=law,
        bootstrap_laws=tuple(boot),
        confidence=float(confidence),
        n_points=int(N.size),
        cost=float(best.cost),
        delta=float(delta),
        compute_range=(float(C.min()), float(C.max())),
        n_bootstrap=int(n_bootstrap),
        ladder_laws=tuple(ladder),
        n_forecast=0 if scales is None else int(np.sum(scales[1] > 0)),
    )
