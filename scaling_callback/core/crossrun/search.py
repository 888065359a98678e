"""The search for the best law: the Huber objective over a whole grid of starts at once, the
local optimiser from the best few, and the bootstrap refits, all resamples at once (numpy,
through `core.robust.huber_newton`).

The Hoffmann grid has 4,500 starts. Instead of running the local optimiser from each, the
objective is evaluated on the whole grid at once (one vectorised numpy pass) and the optimiser
starts from the best few grid points; `benchmarks/crossrun_fit.py --full-grid` checks that this
reaches the same optimum as all 4,500 starts. Bootstrap refits start from the full-data optimum
and from the resample's best grid point among the full data's best 50.

The local optimiser is a batched Levenberg–Marquardt method on the forms' analytic Jacobians
(`FitSpace.log_loss_jac`, `optimise`): every start, and every resample's two starts, move
together, one numpy pass a step. It replaced scipy's least_squares (trust region, numerical
Jacobians, one problem at a time), which took about 100 iterations a start: 12 s of CPU for the
Chinchilla points with 200 resamples, 0.6 s now (issue 29; `python benchmarks/crossrun_fit.py`).
scipy (`polish`) still finishes the few fits the batched optimiser leaves unconverged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ..robust import BatchFit, finite_model, huber, huber_fit, huber_newton
from .laws import Law
from .space import FitSpace
from .uncertain import draw_log_losses

__all__ = ["BOOTSTRAP_CANDIDATES", "LocalFit", "MAX_RESTARTS", "MAX_STEPS", "bootstrap_laws", "local_fit",
           "objective_on", "optimise", "polish", "resample_rows"]

# a resample's grid start is the best, on the resample, of the full data's this many best starts
BOOTSTRAP_CANDIDATES = 50
# steps of each phase of the batched optimiser (`optimise`), at most: enough for the Chinchilla-
# and Kaplan-form refits to converge with Marquardt damping; the Muennighoff form's often do not,
# so they go on with IRLS damping, and `polish` finishes the rest (a fit that runs off to
# infinity never converges either). Measured by benchmarks/crossrun_fit.py's fits while choosing it.
MAX_STEPS = 1000
# scipy restarts of `polish` from where it halted, at most: it stops sooner once a restart lowers
# the cost by less than a relative 1e-9 (see polish)
MAX_RESTARTS = 20
# residuals (starts or resamples × points) solved in one batch: it bounds memory (a batch's
# Jacobian is k times as large), not speed
BATCH_RESIDUALS = 50_000


@dataclass(frozen=True)
class LocalFit:
    """The best local optimum of one fit."""

    params: np.ndarray  # fit coordinates (FitSpace)
    cost: float  # Σ Huber_δ(log L̂ − log L) there


def objective_on(space: FitSpace, starts: np.ndarray, logN, logD, logL, delta, logU=None) -> np.ndarray:
    """The Huber objective at every row of `starts`, in chunks of about a million residuals."""
    out = np.empty(len(starts))
    step = max(1, 1_000_000 // max(1, len(logL)))
    with np.errstate(all="ignore"):
        for i in range(0, len(starts), step):
            r = space.log_loss(starts[i:i + step], logN, logD, logU) - logL
            out[i:i + step] = huber(r, delta).sum(axis=-1)
    return np.where(np.isfinite(out), out, np.inf)


def residual_model(space: FitSpace, logN, logD, logL, logU=None):
    """model(x, rows) for huber_newton: residuals log L̂ − log L and their Jacobian. The data are
    (n,), shared by every problem, or (m, n): problem i fits row i."""
    def model(x, rows):
        own = (lambda a: a[rows]) if np.ndim(logL) == 2 else (lambda a: a)
        value, jac = space.log_loss_jac(x, own(logN), own(logD), None if logU is None else own(logU))
        return value - own(logL), jac
    return model


def optimise(space: FitSpace, model, starts, delta) -> BatchFit:
    """huber_newton from every start with Marquardt damping, then with IRLS damping for those the
    first phase left unconverged: neither damping alone converges on every form (MAX_STEPS)."""
    fits = huber_newton(model, starts, space.lower, space.upper, delta, MAX_STEPS)
    left = np.flatnonzero(~fits.converged & np.isfinite(fits.cost))
    if left.size == 0:
        return fits
    more = huber_newton(lambda x, rows: model(x, left[rows]), fits.params[left], space.lower, space.upper,
                        delta, MAX_STEPS, damping="irls")
    params, cost, converged = fits.params.copy(), fits.cost.copy(), fits.converged.copy()
    params[left], cost[left], converged[left] = more.params, more.cost, more.converged
    return BatchFit(params, cost, converged)


def local_fit(space: FitSpace, starts, logN, logD, logL, delta, logU=None) -> Optional[LocalFit]:
    """The best local optimum over `starts` (optimised together, BATCH_RESIDUALS at a time); None
    when no start has a finite objective."""
    starts = np.atleast_2d(starts)
    model = residual_model(space, logN, logD, logL, logU)
    per_batch = max(1, BATCH_RESIDUALS // np.size(logL))
    found = []
    for i in range(0, len(starts), per_batch):
        fits = optimise(space, model, starts[i:i + per_batch], delta)
        found += [LocalFit(p, float(c)) if done else polish(space, LocalFit(p, float(c)), logN, logD, logL, delta, logU)
                  for p, c, done in zip(fits.params, fits.cost, fits.converged)]
    best = min(found, key=lambda f: f.cost)
    return best if np.isfinite(best.cost) else None


def polish(space: FitSpace, fit: LocalFit, logN, logD, logL, delta, logU=None) -> LocalFit:
    """scipy's bounded trust region (`huber_fit`) from a fit the batched optimiser left unfinished,
    restarted from where it halts until the cost stops falling: that solver can halt early on
    these objectives (on 9 noise-free points it stopped at costs 1e-4..1e-3 from the 10 best grid
    starts, and one restart reached the exact law, cost ~1e-25). `fit` itself where it does not
    lower the cost."""
    if not np.isfinite(fit.cost) or space.to_law(fit.params) is None:
        return fit  # nothing to start from, or ran off to infinity: restarting would only run further
    model = residual_model(space, logN, logD, logL, logU)

    def residuals(p):  # a point outside the form's domain: far, not nan (`finite_model`)
        return finite_model(model, p[None], None)[0][0]

    def jacobian(p):
        return finite_model(model, p[None], None)[1][0].T

    best = fit
    for _ in range(MAX_RESTARTS):
        again = huber_fit(residuals, [best.params], space.lower, space.upper, delta=delta, jac=jacobian)
        if again is None or not again.cost < best.cost * (1.0 - 1e-9):
            break
        best = LocalFit(again.params, float(again.cost))
        if space.to_law(best.params) is None:
            break
    return best


def resample_rows(N, D, n_bootstrap: int, seed) -> np.ndarray:
    """(r, n) indices of the resamples (with replacement) that can identify a law: one with a
    single N or a single D cannot, and is skipped (r ≤ n_bootstrap)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(int(n_bootstrap)):
        idx = rng.integers(0, N.size, N.size)
        if np.unique(N[idx]).size >= 2 and np.unique(D[idx]).size >= 2:
            rows.append(idx)
    return np.array(rows, dtype=np.intp).reshape(len(rows), N.size)


def _resample_objectives(space: FitSpace, candidates, logs, rows, delta, drawn=None) -> np.ndarray:
    """(r, c): the objective of each candidate on each resample, from each point's Huber term
    counted as often as the resample draws it (`drawn`: the resamples' own log losses, (r, n))."""
    logN, logD, logL, logU = logs
    if drawn is not None:
        return _drawn_objectives(space, candidates, logs, rows, delta, drawn)
    with np.errstate(all="ignore"):
        terms = huber(space.log_loss(candidates, logN, logD, logU) - logL, delta)  # (c, n)
    finite = np.isfinite(terms)
    counts = np.zeros((len(rows), logL.size))
    np.add.at(counts, (np.arange(len(rows))[:, None], rows), 1.0)
    out = counts @ np.where(finite, terms, 0.0).T
    return np.where(counts @ (~finite).T > 0, np.inf, out)


def _drawn_objectives(space: FitSpace, candidates, logs, rows, delta, drawn) -> np.ndarray:
    """_resample_objectives where each resample has its own log losses `drawn` (r, n)."""
    logN, logD, _, logU = logs
    with np.errstate(all="ignore"):
        predicted = space.log_loss(candidates, logN, logD, logU)  # (c, n)
        terms = huber(predicted[:, rows] - np.take_along_axis(drawn, rows, 1)[None], delta)  # (c, r, n)
    finite = np.isfinite(terms)
    out = np.where(finite, terms, 0.0).sum(axis=-1).T
    return np.where((~finite).any(axis=-1).T, np.inf, out)


def _refit_batch(space: FitSpace, logs, rows, start, candidates, delta, drawn=None) -> np.ndarray:
    """(r, k) optima of resamples `rows`: each the better of the fits from `start` and from its
    best candidate (ties keep `start`'s); rows of NaN where neither has a finite objective.
    `drawn` (r, n): each resample's own log losses (points drawn from their distributions)."""
    grid_best = candidates[np.argmin(_resample_objectives(space, candidates, logs, rows, delta, drawn), axis=1)]
    data = [None if a is None else np.concatenate([a[rows], a[rows]]) for a in logs]
    if drawn is not None:
        data[2] = np.concatenate([np.take_along_axis(drawn, rows, 1)] * 2)
    starts = np.concatenate([np.broadcast_to(start, grid_best.shape), grid_best])
    fits = optimise(space, residual_model(space, *data[:3], data[3]), starts, delta)
    params, cost = fits.params.copy(), fits.cost.copy()
    for i in np.flatnonzero(~fits.converged & np.isfinite(fits.cost)):
        done = polish(space, LocalFit(params[i], cost[i]), *(a[i] for a in data[:3]), delta,
                      None if data[3] is None else data[3][i])
        params[i], cost[i] = done.params, done.cost
    cost = cost.reshape(2, len(rows))
    pick = np.argmin(cost, axis=0)
    params = params.reshape(2, len(rows), -1)[pick, np.arange(len(rows))]
    return np.where(np.isfinite(cost.min(axis=0))[:, None], params, np.nan)


def bootstrap_laws(space: FitSpace, N, D, logs, start, candidates, n_bootstrap: int, seed, delta,
                   scales=None, resample: bool = True) -> List[Law]:
    """The laws refitted on `n_bootstrap` resamples of the points (with replacement).

    `scales` (σ_low, σ_high of each point's log loss, `uncertain.log_loss_scales`): every
    resample also draws each point's log loss from its distribution (a finished point, σ = 0,
    is itself). `resample=False` keeps every point once: only the draws vary (what finishing
    the unfinished runs could change).

    `logs` = (log N, log D, log L, log U or None) of the points; each refit starts from `start`
    (the full-data optimum) and from the resample's best row of `candidates`. A resample with
    a single N or a single D cannot identify the law and is skipped; a refit that fails or
    diverges is left out the same way. Resamples are solved together, BATCH_RESIDUALS at a time.
    """
    if resample:
        rows = resample_rows(N, D, n_bootstrap, seed)
    else:
        rows = np.tile(np.arange(N.size, dtype=np.intp), (int(n_bootstrap), 1))
    drawn = None if scales is None else draw_log_losses(logs[2], scales, len(rows), seed)
    per_batch = max(1, BATCH_RESIDUALS // N.size)
    laws = []
    for i in range(0, len(rows), per_batch):
        batch = None if drawn is None else drawn[i:i + per_batch]
        for params in _refit_batch(space, logs, rows[i:i + per_batch], start, candidates, delta, batch):
            law = space.to_law(params)  # None: failed (NaN) or diverged
            if law is not None:
                laws.append(law)
    return laws
