"""Cross-run scaling laws: fit L(N, D) over many runs and plan compute-optimal budgets.

numpy + scipy only (the local search: `core.robust.huber_newton`, finished by `huber_fit`); no
torch, no Lightning.

Three forms:
- "chinchilla": L = E + A/N^α + B/D^β, fitted as Hoffmann et al. (2022) Approach 3: Huber
  (δ = 1e-3) on log loss with the log-sum-exp parameterisation, from their grid of starts.
- "kaplan": L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020 eq. 1.5), same objective.
- "muennighoff": Chinchilla's form in effective parameters N' and effective data D' (Muennighoff
  et al. 2023 eq. 5), for runs that repeat their data; each point also needs its unique tokens U.

The modules, each importing only those above it: `laws` (the three forms), `space` (their fit
coordinates and grids of starts), `search` (objective, local fit, bootstrap), `inputs` (checks
of the points and options), `uncertain` (a forecast point's distribution, used by `search`), `result`
(`ScalingLawFit` and its file), `fit` (`fit_scaling_law`);
then what uses a fit: `decision` (has a ladder still training decided?), `inference`
(inference-aware planning), `compare` (two families) and
`trend` (a run against its family's law). This package re-exports the names of `__all__`.
"""
from __future__ import annotations

from ..status import ScalingLawError
from .fit import fit_scaling_law
from .laws import ChinchillaLaw, DataConstrainedLaw, KaplanLaw, law_class
from .result import ComputeOptimal, Estimate, ScalingLawFit

__all__ = [
    "ChinchillaLaw",
    "ComputeOptimal",
    "DataConstrainedLaw",
    "Estimate",
    "KaplanLaw",
    "ScalingLawError",
    "ScalingLawFit",
    "fit_scaling_law",
    "law_class",
]
