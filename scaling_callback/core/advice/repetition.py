"""What repeating the training data costs: Muennighoff et al. 2023's effective data (eq. 5),
the worth of a further pass, and the loss it costs against fresh data (numpy only)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..checks import positive_number
from ..crossrun.laws import MUENNIGHOFF_B, MUENNIGHOFF_BETA, MUENNIGHOFF_R_STAR_D, effective_tokens
from ..formatting import format_number

__all__ = ["RepetitionAdvice", "repeated_data"]

# Muennighoff et al. 2023 §3: up to ~4 epochs of repeated data are almost as good as fresh data
REPEATED_EPOCHS_LIMIT = 4.0
# A further pass "stops paying" once its tokens are worth less than this fraction of as many
# fresh ones: e^(−R/R*_D) < 1/2 (eq. 5's marginal value), i.e. past 1 + R*_D·ln 2 ≈ 11.7 epochs
PASS_WORTH_PAYING = 0.5


@dataclass(frozen=True)
class RepetitionAdvice:
    """What repeating the training data costs (Muennighoff et al. 2023)."""

    topic: ClassVar[str] = "Repeated data"
    tokens: float  # training tokens seen (or planned)
    unique_tokens: float  # unique tokens in the training set
    epochs: float  # tokens / unique_tokens
    effective_tokens: float  # D' of eq. 5: the fresh tokens the training is worth
    effective_fraction: float  # effective_tokens / tokens
    marginal_value: float  # worth of the next repeated token relative to a fresh one, e^(−R/R*)
    warning: bool  # epochs > max_epochs
    message: str
    loss_penalty: float = 0.0  # B/D'^β − B/D^β: expected loss above as many fresh tokens
    paying_epochs: float = math.inf  # epochs past which a further pass is worth < PASS_WORTH_PAYING


def repeated_data(
    tokens: float,
    unique_tokens: float,
    *,
    max_epochs: float = REPEATED_EPOCHS_LIMIT,
    r_star: float = MUENNIGHOFF_R_STAR_D,
    B: float = MUENNIGHOFF_B,
    beta: float = MUENNIGHOFF_BETA,
) -> RepetitionAdvice:
    """Epochs over the data and what they are worth, by Muennighoff et al.'s effective-data model.

    Muennighoff et al. 2023 eq. 5: D tokens drawn from U unique ones (U_D = min(U, D)) are worth
    D' = U_D + U_D·R*_D·(1 − e^(−R_D/R*_D)) fresh tokens, with R_D = D/U_D − 1 repetitions and
    R*_D = 15.39 (their fit; the 1/e "half-life" of a repeated token's value in repetitions).
    Up to ~4 epochs the tokens are almost as good as fresh (their §3); past `max_epochs` this
    warns. `effective_fraction` = D'/D; `marginal_value` = dD'/dD = e^(−R_D/R*_D), the worth of
    one more repeated token relative to a fresh one. `loss_penalty` = B/D'^β − B/D^β, the loss
    the repetition is expected to cost against as many fresh tokens, with the data term of their
    fitted law (B = 1488, β = 0.353 by default; pass a fitted law's B and beta).
    `paying_epochs` = 1 + R*_D·ln 2: past it a further pass is worth less than half as many
    fresh tokens (PASS_WORTH_PAYING).
    """
    d = positive_number(tokens, "tokens")
    u = positive_number(unique_tokens, "unique_tokens")
    r_star = positive_number(r_star, "r_star")
    B, beta = positive_number(B, "B"), positive_number(beta, "beta")
    epochs = d / u
    reps = max(d / min(u, d) - 1.0, 0.0)
    effective = float(effective_tokens(d, u, r_star))  # Muennighoff 2023 eq. 5
    fraction = effective / d
    marginal = math.exp(-reps / r_star)  # d/dD of eq. 5
    # the data term of Muennighoff et al.'s law (Chinchilla's B/D^β in D') against fresh D
    penalty = B * (effective ** -beta - d ** -beta)
    # e^(−R/R*_D) = PASS_WORTH_PAYING at R = R*_D·ln(1/PASS_WORTH_PAYING) repetitions
    paying = 1.0 + r_star * math.log(1.0 / PASS_WORTH_PAYING)
    warn = epochs > max_epochs
    if warn:
        msg = (f"{epochs:.1f} epochs over {format_number(u)} unique tokens, past the ~{max_epochs:g} epochs that "
               f"are almost as good as fresh data (Muennighoff et al. 2023): the {format_number(d)} tokens are "
               f"worth about {format_number(effective)} fresh ones ({100 * fraction:.0f}%), and each further "
               f"token is worth {100 * marginal:.0f}% of a fresh one (eq. 5, R*_D = {r_star:g}); expected "
               f"loss penalty {penalty:.3g} against fresh data; passes past {paying:.1f} epochs are worth "
               f"less than half of fresh ones.")
    else:
        msg = (f"{epochs:.2f} epochs over {format_number(u)} unique tokens, within the ~{max_epochs:g} epochs that "
               f"are almost as good as fresh data (Muennighoff et al. 2023): the tokens are worth "
               f"{100 * fraction:.0f}% of fresh ones (eq. 5)"
               + (f", an expected loss penalty of {penalty:.3g}." if penalty > 0 else "."))
    return RepetitionAdvice(d, u, epochs, effective, fraction, marginal, warn, msg, penalty, paying)
