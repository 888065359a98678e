"""Two published reference points, context for planning the next run and never a reason to stop
this one: Kaplan et al. 2020's compute-efficient point and Hoffmann et al. 2022's ~20 tokens per
parameter (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

import numpy as np

from ..checks import increasing_curve, positive_number
from ..formatting import format_number
from .unique_data import KAPLAN_ALPHA_N

__all__ = ["ChinchillaReference", "EfficientPoint", "chinchilla_reference", "kaplan_efficient_point"]

# Kaplan et al. 2020 eq. 1.6 / Table 3: exponent of L(N, S) in steps; App. B.5 uses α_N/α_S
KAPLAN_ALPHA_S = 0.76
# Hoffmann et al. 2022: compute-optimal training uses about 20 tokens per parameter
CHINCHILLA_TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class EfficientPoint:
    """Context: Kaplan's compute-efficient stopping point, loss within ~10% of the asymptote."""

    topic: ClassVar[str] = "Context: Kaplan compute-efficient point"
    asymptotic_loss: float  # the forecast's loss for infinitely long training of this model
    target_loss: float  # (1 + α_N/α_S)·asymptotic_loss
    step: Optional[int]  # first forecast step at or below target_loss (None: not reached)
    warning: bool  # always False: a reference, not a reason to stop
    message: str


def kaplan_efficient_point(
    steps,
    predicted_loss,
    asymptotic_loss: float,
    *,
    alpha_n: float = KAPLAN_ALPHA_N,
    alpha_s: float = KAPLAN_ALPHA_S,
) -> EfficientPoint:
    """Where the forecast first comes within (1 + α_N/α_S) of the asymptotic loss.

    Kaplan et al. 2020 App. B.5: compute-efficient training ends near (1 + α_N/α_S)·L(N, ∞),
    about 10% above the converged loss, because beyond it a bigger model trained for fewer steps
    reaches the same loss with less compute. The run's own asymptote stands in for L(N, ∞).
    This is context for planning the next run, labelled as such, not a reason to stop this one.
    """
    s, v, _ = increasing_curve("forecast", steps, predicted_loss, drop_nonfinite=False)
    l_inf = positive_number(asymptotic_loss, "asymptotic_loss")
    target = (1.0 + alpha_n / alpha_s) * l_inf  # Kaplan 2020 App. B.5
    hit = np.nonzero(v <= target)[0]
    step = int(s[hit[0]]) if hit.size else None
    lead = (f"For reference (Kaplan et al. 2020 App. B.5), compute-efficient training ends near "
            f"(1 + α_N/α_S)·L∞ = {format_number(target)} for the asymptote L∞ = {format_number(l_inf)}")
    if step is None:
        msg = lead + "; the forecast does not reach it in the steps given."
    else:
        msg = lead + f"; the forecast reaches it at step {step}."
    return EfficientPoint(l_inf, target, step, False, msg)


@dataclass(frozen=True)
class ChinchillaReference:
    """Context: Hoffmann et al.'s compute-optimal ~20 tokens per parameter."""

    topic: ClassVar[str] = "Context: Chinchilla tokens per parameter"
    n_params: float
    reference_tokens: float  # tokens_per_param · n_params
    planned_tokens: Optional[float]
    planned_tokens_per_param: Optional[float]  # planned_tokens / n_params
    warning: bool  # always False: a reference, not a reason to stop
    message: str


def chinchilla_reference(
    n_params: float,
    planned_tokens: Optional[float] = None,
    *,
    tokens_per_param: float = CHINCHILLA_TOKENS_PER_PARAM,
) -> ChinchillaReference:
    """Hoffmann et al. 2022: compute-optimal training uses about 20 tokens per parameter.

    Labelled context: it tells how this run's token budget compares with a compute-optimal one
    for its size (Hoffmann count all parameters, embeddings included), not when to stop it;
    runs meant for cheap inference deliberately train far longer.
    """
    n = positive_number(n_params, "n_params")
    ref = tokens_per_param * n
    ratio = None
    msg = (f"For reference (Hoffmann et al. 2022), compute-optimal training uses about "
           f"{tokens_per_param:g} tokens per parameter, {format_number(ref)} tokens for {format_number(n)} parameters")
    if planned_tokens is not None:
        planned = positive_number(planned_tokens, "planned_tokens")
        ratio = planned / n
        msg += f"; this run plans {format_number(planned)} ({ratio:.3g} per parameter)."
    else:
        planned = None
        msg += "."
    return ChinchillaReference(n, ref, planned, ratio, False, msg)
