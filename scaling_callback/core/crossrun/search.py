"""The search for the best law: the Huber objective over a whole grid of starts at once, the
local optimiser from the best few, and the bootstrap refits (numpy + scipy, through
`core.robust.huber_fit`).

The Hoffmann grid has 4,500 starts. Instead of running the local optimiser from each, the
objective is evaluated on the whole grid at once (one vectorised numpy pass) and the optimiser
starts from the best few grid points; `benchmarks/crossrun_fit.py --full-grid` checks that this
reaches the same optimum as all 4,500 starts. Bootstrap refits start from the full-data optimum
and from the resample's best grid point among the full data's best 50.
"""
from __future__ import annotations

from typing import List

import numpy as np

from ..robust import huber, huber_fit
from .laws import Law
from .space import FitSpace

__all__ = ["BOOTSTRAP_CANDIDATES", "MAX_RESTARTS", "bootstrap_laws", "local_fit", "objective_on"]

# a resample's grid start is the best, on the resample, of the full data's this many best starts
BOOTSTRAP_CANDIDATES = 50
# restarts of the local optimiser from where it halted, at most: it stops sooner once a restart
# lowers the cost by less than a relative 1e-9 (see local_fit)
MAX_RESTARTS = 20


def objective_on(space: FitSpace, starts: np.ndarray, logN, logD, logL, delta, logU=None) -> np.ndarray:
    """The Huber objective at every row of `starts`, in chunks of about a million residuals."""
    out = np.empty(len(starts))
    step = max(1, 1_000_000 // max(1, len(logL)))
    with np.errstate(all="ignore"):
        for i in range(0, len(starts), step):
            r = space.log_loss(starts[i:i + step], logN, logD, logU) - logL
            out[i:i + step] = huber(r, delta).sum(axis=-1)
    return np.where(np.isfinite(out), out, np.inf)


def local_fit(space: FitSpace, starts, logN, logD, logL, delta, logU=None):
    """The best local optimum over `starts`, each restarted from its result until it stops falling.

    The bounded trust-region solver behind huber_fit can stop early on these objectives (the
    Huber kink at δ with residuals spanning decades): on 9 noise-free points it halted after
    ~15 evaluations at costs 1e-4..1e-3 from all of the 10 best grid starts, and one restart
    from where it halted reached the exact law (cost ~1e-25) from each of them.
    """
    def residuals(p):
        with np.errstate(all="ignore"):
            r = space.log_loss(p, logN, logD, logU) - logL
        return np.where(np.isfinite(r), r, 1e3)  # a start outside the form's domain: far, not nan

    best = None
    for x0 in starts:
        fit = huber_fit(residuals, [x0], space.lower, space.upper, delta=delta)
        for _ in range(MAX_RESTARTS):
            if fit is None or space.to_law(fit.params) is None:
                break  # failed, or ran off to infinity: restarting would only run further
            again = huber_fit(residuals, [fit.params], space.lower, space.upper, delta=delta)
            if again is None or not again.cost < fit.cost * (1.0 - 1e-9):
                break
            fit = again
        if fit is not None and (best is None or fit.cost < best.cost):
            best = fit
    return best


def bootstrap_laws(space: FitSpace, N, D, logs, start, candidates, n_bootstrap: int, seed, delta) -> List[Law]:
    """The laws refitted on `n_bootstrap` resamples of the points (with replacement).

    `logs` = (log N, log D, log L, log U or None) of the points; each refit starts from `start`
    (the full-data optimum) and from the resample's best row of `candidates`. A resample with
    a single N or a single D cannot identify the law and is skipped; a refit that fails or
    diverges is left out the same way.
    """
    logN, logD, logL, logU = logs
    laws = []
    rng = np.random.default_rng(seed)
    for _ in range(int(n_bootstrap)):
        idx = rng.integers(0, N.size, N.size)
        if np.unique(N[idx]).size < 2 or np.unique(D[idx]).size < 2:
            continue  # this resample cannot identify the law
        x = logN[idx], logD[idx], logL[idx]
        u = None if logU is None else logU[idx]
        grid_best = candidates[np.argmin(objective_on(space, candidates, *x, delta, u))]
        refit = local_fit(space, [start, grid_best], *x, delta, u)
        refit_law = None if refit is None else space.to_law(refit.params)
        if refit_law is not None:  # a diverged resample is left out like a failed one
            laws.append(refit_law)
    return laws
