"""Inference-aware planning: Sardana et al. 2023, "Beyond Chinchilla-Optimal".

For a target loss ℓ and an expected inference demand of T tokens, the model that reaches ℓ
at the least total cost minimises training + inference FLOPs, 6·N·D + 2·N·T (Sardana et al.
2023 §2; 6ND training and 2N per inferred token, Kaplan et al. 2020 §2.1), subject to
L(N, D) = ℓ. With T > 0 it is a smaller model trained on more tokens than the
Chinchilla-optimal one of the same loss. The target is either a loss or the compute-optimal
loss of a training budget C (then "the Chinchilla-optimal model for C, and the cheaper model
of the same quality once inference is counted").

numpy + scipy only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from scipy.optimize import minimize_scalar

from ..checks import positive_number
from ..status import ScalingLawError
from .laws import ChinchillaLaw, DataConstrainedLaw
from .result import Estimate, ScalingLawFit

__all__ = ["InferencePlan", "inference_optimal"]

TRAIN_FLOPS_PER_PARAM_TOKEN = 6.0  # C = 6·N·D (Kaplan et al. 2020 eq. 2.1 / §2.1)
INFERENCE_FLOPS_PER_PARAM_TOKEN = 2.0  # forward pass ≈ 2·N per token (Kaplan et al. 2020 §2.1)
_SEARCH_DECADES = 8  # N is searched from the smallest size that can reach ℓ up to 10^8 times it
_SEARCH_POINTS = 2001


@dataclass(frozen=True)
class InferencePlan:
    """The Chinchilla-optimal model for a loss beside the one minimising training + inference FLOPs."""

    loss: float  # the target loss both models reach
    inference_tokens: float  # T
    chinchilla_N: Estimate
    chinchilla_D: Estimate
    chinchilla_total_flops: Estimate  # 6ND + 2NT at the Chinchilla-optimal point
    N: Estimate  # inference-aware optimum
    D: Estimate
    train_flops: Estimate  # 6ND
    inference_flops: Estimate  # 2NT
    total_flops: Estimate  # 6ND + 2NT
    saving: Estimate  # 1 − total / chinchilla_total


def _tokens_for_loss(law, N, loss):
    """D with law.loss(N, D) = loss (nan where N alone cannot reach it), fresh data."""
    N = np.asarray(N, float)
    with np.errstate(all="ignore"):
        if isinstance(law, (ChinchillaLaw, DataConstrainedLaw)):
            # Hoffmann et al. 2022 eq. 2 solved for D
            gap = loss - law.E - law.A / N**law.alpha
            D = (law.B / gap) ** (1.0 / law.beta)
        else:
            # Kaplan et al. 2020 eq. 1.5 solved for D
            gap = loss ** (1.0 / law.alpha_D) - (law.N_c / N) ** (law.alpha_N / law.alpha_D)
            D = law.D_c / gap
    return np.where(gap > 0, D, np.nan)


def _smallest_model(law, loss) -> float:
    """The N below which no amount of data reaches `loss` (nan if the loss is out of reach)."""
    with np.errstate(all="ignore"):
        if isinstance(law, (ChinchillaLaw, DataConstrainedLaw)):
            return (law.A / (loss - law.E)) ** (1.0 / law.alpha) if loss > law.E else math.nan
        return law.N_c / loss ** (1.0 / law.alpha_N) if loss > 0 else math.nan


def _cheapest(law, loss, inference_tokens):
    """(N, D) minimising 6ND + 2NT on L(N, D) = loss: a log grid, then Brent on the bracket."""
    n_min = _smallest_model(law, loss)
    if not (np.isfinite(n_min) and n_min > 0):
        return math.nan, math.nan

    def total(log_n):
        N = np.exp(log_n)
        D = _tokens_for_loss(law, N, loss)
        return np.where(np.isfinite(D), TRAIN_FLOPS_PER_PARAM_TOKEN * N * D
                        + INFERENCE_FLOPS_PER_PARAM_TOKEN * N * inference_tokens, np.inf)

    grid = math.log(n_min) + np.linspace(1e-9, _SEARCH_DECADES * math.log(10), _SEARCH_POINTS)
    cost = total(grid)
    i = int(np.argmin(cost))
    if not np.isfinite(cost[i]):
        return math.nan, math.nan
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    best = minimize_scalar(lambda x: float(total(np.array(x))), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})
    log_n = best.x if best.fun <= cost[i] else grid[i]
    N = math.exp(log_n)
    return N, float(_tokens_for_loss(law, N, loss))


def inference_optimal(fit: ScalingLawFit, inference_tokens: float, *, compute: Optional[float] = None,
                      loss: Optional[float] = None) -> InferencePlan:
    """The cheapest model, counting inference, that reaches a target loss, beside Chinchilla's.

    Give either `compute` (the target is the compute-optimal loss of that training budget, so
    the Chinchilla-optimal model is the one `plan --compute` prints; each bootstrap law aims at
    its own compute-optimal loss) or `loss` (one fixed target for every bootstrap law). Every
    number carries the fit's bootstrap interval. Raises ScalingLawError on bad input or a loss the law
    cannot reach (at or below its irreducible loss).
    """
    if not (isinstance(inference_tokens, numbers.Real) and math.isfinite(inference_tokens)
            and inference_tokens >= 0):
        raise ScalingLawError(f"inference_tokens must be a finite number ≥ 0, got {inference_tokens!r}")
    if (compute is None) == (loss is None):
        raise ScalingLawError("give exactly one target: compute (FLOPs) or loss")
    if compute is not None:
        target = fit.compute_optimal(compute).loss.value

        def target_of(law):
            N, D = law.compute_optimal(compute)
            return float(law.loss(N, D))
    else:
        target = positive_number(loss, "loss", error=ScalingLawError, what="a positive finite number")

        def target_of(law):
            return target
    if not np.isfinite(_smallest_model(fit.law, target)):
        raise ScalingLawError(f"the fitted law cannot reach loss {target:.4g} (its irreducible loss is "
                              f"{getattr(fit.law, 'E', 0.0):.4g}): no amount of N and D gets there")
    T = float(inference_tokens)

    @lru_cache(maxsize=None)
    def chinchilla(law):
        return _cheapest(law, target_of(law), 0.0)

    def total(N, D):
        return TRAIN_FLOPS_PER_PARAM_TOKEN * N * D + INFERENCE_FLOPS_PER_PARAM_TOKEN * N * T

    @lru_cache(maxsize=None)
    def aware(law):
        return _cheapest(law, target_of(law), T)

    est = fit.estimate
    return InferencePlan(
        loss=target, inference_tokens=T,
        chinchilla_N=est(lambda law: chinchilla(law)[0]),
        chinchilla_D=est(lambda law: chinchilla(law)[1]),
        chinchilla_total_flops=est(lambda law: total(*chinchilla(law))),
        N=est(lambda law: aware(law)[0]),
        D=est(lambda law: aware(law)[1]),
        train_flops=est(lambda law: TRAIN_FLOPS_PER_PARAM_TOKEN * aware(law)[0] * aware(law)[1]),
        inference_flops=est(lambda law: INFERENCE_FLOPS_PER_PARAM_TOKEN * aware(law)[0] * T),
        total_flops=est(lambda law: total(*aware(law))),
        saving=est(lambda law: 1.0 - total(*aware(law)) / total(*chinchilla(law))),
    )
