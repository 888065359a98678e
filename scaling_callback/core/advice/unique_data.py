"""Is the unique training data enough for the model size? Kaplan et al. 2020's data limit
(eq. 4.4) and the overfitting penalty it bounds (eq. 4.3) (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..checks import positive_number
from ..formatting import format_number

__all__ = ["DataLimitAdvice", "data_limit"]

# Kaplan et al. 2020 Table 2: joint fit of L(N, D) (eq. 1.5), used by the overfitting penalty eq. 4.3
KAPLAN_ALPHA_N = 0.076
KAPLAN_ALPHA_D = 0.103
KAPLAN_N_C = 6.4e13
KAPLAN_D_C = 1.8e13
# Kaplan et al. 2020 eq. 4.4: D ≳ 5·10³·N^0.74 unique tokens keeps overfitting near the 2% seed noise
DATA_LIMIT_COEFFICIENT = 5e3
DATA_LIMIT_EXPONENT = 0.74


@dataclass(frozen=True)
class DataLimitAdvice:
    """Whether the unique training data is enough for the model size (Kaplan eq. 4.4)."""

    topic: ClassVar[str] = "Data limit"
    n_params: float  # non-embedding parameters N
    unique_tokens: float  # unique training tokens D (one epoch of the training set)
    min_unique_tokens: float  # 5·10³·N^0.74: fewer risks overfitting (eq. 4.4)
    tokens_to_data_limit: float  # unique_tokens − min_unique_tokens: positive = room left, negative = shortfall
    overfitting_penalty: float  # δL = L(N, D)/L(N, ∞) − 1 expected from the data size (eq. 4.3)
    warning: bool  # unique_tokens < min_unique_tokens
    message: str


def data_limit(
    n_params: float,
    unique_tokens: float,
    *,
    coefficient: float = DATA_LIMIT_COEFFICIENT,
    exponent: float = DATA_LIMIT_EXPONENT,
    alpha_n: float = KAPLAN_ALPHA_N,
    alpha_d: float = KAPLAN_ALPHA_D,
    n_c: float = KAPLAN_N_C,
    d_c: float = KAPLAN_D_C,
) -> DataLimitAdvice:
    """Kaplan's data-limit check for N non-embedding parameters and D unique training tokens.

    Kaplan et al. 2020 eq. 4.4: with D ≳ 5·10³·N^0.74 the overfitting penalty eq. 4.3,
    δL(N, D) ≈ (1 + (N/N_c)^(α_N/α_D)·D_c/D)^α_D − 1, stays below the ~2% seed-to-seed variation
    of the loss; with less data the model risks overfitting (more so the more epochs it runs).
    `tokens_to_data_limit` is the margin in tokens: positive means the dataset is that many unique
    tokens above the limit, negative means that many more unique tokens would be needed.
    The constants are Kaplan's WebText2 fits (Table 2): an anchor, not a fact about the user's data.
    """
    n = positive_number(n_params, "n_params")
    d = positive_number(unique_tokens, "unique_tokens")
    d_min = coefficient * n ** exponent  # Kaplan 2020 eq. 4.4
    penalty = (1.0 + (n / n_c) ** (alpha_n / alpha_d) * d_c / d) ** alpha_d - 1.0  # Kaplan 2020 eq. 4.3
    margin = d - d_min
    warn = margin < 0
    if warn:
        msg = (f"Only {format_number(d)} unique tokens for N = {format_number(n)} non-embedding parameters, "
               f"{format_number(-margin)} short of Kaplan's data limit 5·10³·N^0.74 = {format_number(d_min)} (eq. 4.4): "
               f"expect overfitting, about {100 * penalty:.1f}% above the converged loss (eq. 4.3).")
    else:
        msg = (f"{format_number(d)} unique tokens for N = {format_number(n)} non-embedding parameters is {format_number(margin)} "
               f"above Kaplan's data limit 5·10³·N^0.74 = {format_number(d_min)} (eq. 4.4); expected overfitting "
               f"penalty {100 * penalty:.1f}% (eq. 4.3).")
    return DataLimitAdvice(n, d, d_min, margin, penalty, warn, msg)
