"""Advice on a training run from its own numbers: data limit, repeated data, observed
overfitting, when to stop, and two published reference points.

numpy only (no torch, no Lightning): every function is pure, takes plain numbers or arrays, and
returns a small frozen dataclass holding the numbers, a one-sentence `message` in words and a
`warning` flag (True when the advice asks the user to act). `advice_markdown` renders any
collection of them as Markdown for a TensorBoard text panel.

Constants fitted on someone else's data (WebText2, C4, MassiveText) are defaults and sanity
anchors, never truths about a user's run; each is a keyword argument.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Iterable, Optional

import numpy as np

from .checks import increasing_curve, positive_number
from .formatting import format_number
from .overfitting import OverfittingAdvice, observed_overfitting, robust_noise  # noqa: F401 (advice's topics)
from .crossrun.laws import MUENNIGHOFF_B, MUENNIGHOFF_BETA, MUENNIGHOFF_R_STAR_D, effective_tokens

# Kaplan et al. 2020 Table 2: joint fit of L(N, D) (eq. 1.5), used by the overfitting penalty eq. 4.3
KAPLAN_ALPHA_N = 0.076
KAPLAN_ALPHA_D = 0.103
KAPLAN_N_C = 6.4e13
KAPLAN_D_C = 1.8e13
# Kaplan et al. 2020 eq. 4.4: D ≳ 5·10³·N^0.74 unique tokens keeps overfitting near the 2% seed noise
DATA_LIMIT_COEFFICIENT = 5e3
DATA_LIMIT_EXPONENT = 0.74
# Kaplan et al. 2020 eq. 1.6 / Table 3: exponent of L(N, S) in steps; App. B.5 uses α_N/α_S
KAPLAN_ALPHA_S = 0.76
# Muennighoff et al. 2023 §3: up to ~4 epochs of repeated data are almost as good as fresh data
REPEATED_EPOCHS_LIMIT = 4.0
# A further pass "stops paying" once its tokens are worth less than this fraction of as many
# fresh ones: e^(−R/R*_D) < 1/2 (eq. 5's marginal value), i.e. past 1 + R*_D·ln 2 ≈ 11.7 epochs
PASS_WORTH_PAYING = 0.5
# Hoffmann et al. 2022: compute-optimal training uses about 20 tokens per parameter
CHINCHILLA_TOKENS_PER_PARAM = 20.0

# --------------------------------------------------------------------------------------------
# Data limit (Kaplan et al. 2020 §4)


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


# --------------------------------------------------------------------------------------------
# Repeated data (Muennighoff et al. 2023)


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


# --------------------------------------------------------------------------------------------
# Recommended stop point


@dataclass(frozen=True)
class FinalDecay:
    """The final learning-rate decay of a planned schedule."""

    start_step: int  # last step at the peak rate: the rate is lower at every later step given
    length: int  # planned_end − start_step
    peak_lr: float  # learning rate on the plateau before the decay
    final_lr: float  # learning rate at the planned end


def final_decay(lr_steps, lr, planned_end: int, *, max_final_ratio: float = 0.5,
                rel_tol: float = 1e-12) -> Optional[FinalDecay]:
    """Find the final decay of a learning-rate schedule (lr[k] is the rate used at lr_steps[k]).

    A schedule "ends in a decay" when its rate at `planned_end` is at most `max_final_ratio` of its
    highest rate (cosine, linear or (1 − sqrt) cool-downs, step drops). The decay starts from
    the last step at which the rate is at its peak (within `rel_tol`): the end of warm-up for
    cosine, the end of the stable phase for warmup-stable-decay. None when there is no such decay.
    """
    s, v, _ = increasing_curve("lr", lr_steps, lr, drop_nonfinite=False)
    if s.size == 0:
        raise ValueError("lr schedule is empty")
    keep = s <= planned_end
    if not keep.any():
        raise ValueError(f"lr schedule starts after the planned end {planned_end}")
    s, v = s[keep], v[keep]
    peak = float(np.max(v))
    final = float(np.interp(planned_end, s, v))
    if peak <= 0 or final > max_final_ratio * peak:
        return None
    start = int(s[np.nonzero(v >= peak * (1 - rel_tol))[0][-1]])
    return FinalDecay(start, int(planned_end) - start, peak, final)


@dataclass(frozen=True)
class StopAdvice:
    """When continuing stops paying, by the forecast to the planned end."""

    topic: ClassVar[str] = "Recommended stop"
    stop_step: int  # earliest step after which the forecast improves by less than min_delta
    improvement_after_stop: float  # predicted loss at stop_step − best predicted loss after it
    predicted_final_loss: float  # forecast at planned_end
    planned_end: int
    min_delta: float
    decay_start_step: Optional[int]  # planned start of the final lr decay (None: no final decay)
    decay_length: Optional[int]  # its planned length in steps
    recommended_decay_start: Optional[int]  # where to start that decay instead, to end earlier
    recommended_end: Optional[int]  # recommended_decay_start + decay_length
    warning: bool  # there are steps to save (stop_step, or recommended_end, before planned_end)
    message: str


def recommended_stop(
    steps,
    predicted_loss,
    planned_end: int,
    min_delta: float,
    *,
    lr_steps=None,
    lr=None,
) -> StopAdvice:
    """The earliest step after which the forecast predicts less than `min_delta` further gain.

    `steps`, `predicted_loss`: the forecast curve from now (its first step) to at least
    `planned_end`, under the planned learning-rate schedule. For each step s the remaining gain is
    predicted_loss(s) − min(predicted_loss over [s, planned_end]); `stop_step` is the first grid
    step where it falls below `min_delta` (at worst `planned_end`, where it is 0). The resolution
    is the forecast grid's.

    Schedules with a final decay (give the planned schedule as `lr_steps`, `lr`; lr[k] is the
    rate used at step lr_steps[k]): a schedule-aware forecast puts most of the late gain in the
    decay, so `stop_step` lands inside the decay, and cutting the run there leaves the model
    half-annealed. The better move is to start the same decay earlier. Assuming, as the
    multi-power law does to first order (Luo et al. 2025; Hägele et al. 2024 find cool-downs from
    any point of a constant-rate run work as well as cosine), that the drop a decay brings
    depends on the decay and not on when it starts, starting it at step t instead of the planned
    decay start d loses predicted_loss(t) − predicted_loss(d), read on the forecast before d
    (the stable phase, where the planned rate is constant). `recommended_decay_start` is the
    earliest t with that loss below `min_delta`, and `recommended_end` = t + the planned decay
    length. When the rate decays over the whole rest of the run (cosine after warm-up) there is
    no stable phase to read, and both are None.
    """
    s, v, _ = increasing_curve("forecast", steps, predicted_loss, drop_nonfinite=False)
    min_delta = positive_number(min_delta, "min_delta")
    planned_end = int(planned_end)
    if s.size == 0:
        raise ValueError("forecast curve is empty")
    if s[-1] < planned_end:
        raise ValueError(f"forecast ends at step {s[-1]:g}, before the planned end {planned_end}")
    if s[0] > planned_end:
        raise ValueError(f"forecast starts at step {s[0]:g}, after the planned end {planned_end}")
    end_loss = float(np.interp(planned_end, s, v))
    keep = s < planned_end
    s = np.append(s[keep], planned_end)
    v = np.append(v[keep], end_loss)
    best_after = np.minimum.accumulate(v[::-1])[::-1]
    gain = v - best_after
    stop_i = int(np.nonzero(gain < min_delta)[0][0])
    stop_step = int(s[stop_i])
    now = int(s[0])

    decay = None
    rec_start = rec_end = None
    if lr is not None:
        decay = final_decay(lr_steps, lr, planned_end)
    if decay is not None and decay.start_step > now:
        stable = s <= decay.start_step
        loss_at_d = float(np.interp(decay.start_step, s, v))
        ok = np.nonzero(v[stable] - loss_at_d < min_delta)[0]
        rec_start = int(s[stable][ok[0]]) if ok.size else decay.start_step
        rec_end = rec_start + decay.length

    if decay is not None and rec_start is not None:
        saves = planned_end - rec_end
        warn = saves > 0
        if warn:
            msg = (f"Start the final learning-rate decay at step {rec_start} instead of {decay.start_step} "
                   f"and end at {rec_end}: the forecast loses less than {format_number(min_delta)} against the "
                   f"planned {format_number(end_loss)} at step {planned_end}, saving {saves} steps (cut short without an early decay, the run would "
                   f"only come within {format_number(min_delta)} after step {stop_step}, inside the decay).")
        else:
            msg = (f"Keep the plan: starting the final decay before step {decay.start_step} would "
                   f"lose at least {format_number(min_delta)} of the predicted final loss {format_number(end_loss)}.")
    else:
        warn = stop_step < planned_end
        if stop_step == now and warn:
            msg = (f"Stop now (step {now}): the forecast predicts less than {format_number(min_delta)} further "
                   f"improvement by the planned end at step {planned_end} (final {format_number(end_loss)}).")
        elif warn:
            msg = (f"Stopping at step {stop_step} instead of {planned_end} loses less than "
                   f"{format_number(min_delta)} of loss by the forecast (final {format_number(end_loss)}).")
        else:
            msg = (f"Keep training to the planned end at step {planned_end}: the forecast still gains "
                   f"at least {format_number(min_delta)} until then (final {format_number(end_loss)}).")
        if decay is not None:
            msg = msg[:-1] + ("; the learning rate is already decaying, so the end of the decay is "
                              "where the gain is.")
    return StopAdvice(stop_step, float(gain[stop_i]), end_loss, planned_end, min_delta,
                      None if decay is None else decay.start_step,
                      None if decay is None else decay.length, rec_start, rec_end, warn, msg)


# --------------------------------------------------------------------------------------------
# Reference points (context, not advice)


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


# --------------------------------------------------------------------------------------------
# Rendering


def advice_markdown(advice: Iterable, *, step: Optional[int] = None,
                    title: str = "Training advice") -> str:
    """Render advice results (any of this module's dataclasses; None entries are skipped) as a
    short Markdown text for a TensorBoard text panel: warnings first, then the other advice, then
    the reference points labelled "Context", each group in the order given."""
    items = [a for a in advice if a is not None]
    for a in items:
        if not (hasattr(a, "message") and hasattr(a, "warning") and hasattr(a, "topic")):
            raise TypeError(f"not an advice result: {type(a).__name__}")
    head = f"### {title}" + (f" at step {step}" if step is not None else "")
    if not items:
        return head + "\n\nNo advice yet."
    ordered = sorted(items, key=lambda a: 0 if a.warning else 2 if a.topic.startswith("Context") else 1)
    lines = [head, ""]
    for a in ordered:
        mark = "**Warning — " + a.topic + ":**" if a.warning else "**" + a.topic + ":**"
        lines.append(f"- {mark} {a.message}")
    return "\n".join(lines)
