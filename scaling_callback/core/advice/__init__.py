"""Advice on a training run from its own numbers: data limit, repeated data, observed
overfitting, when to stop, and two published reference points.

numpy only (no torch, no Lightning): every function is pure, takes plain numbers or arrays, and
returns a small frozen dataclass holding the numbers, a one-sentence `message` in words and a
`warning` flag (True when the advice asks the user to act). `advice_markdown` renders any
collection of them as Markdown for a TensorBoard text panel.

One topic a module: `unique_data` (Kaplan's data limit), `repetition` (repeated data),
`stop` (recommended stop and the final decay), `references` (the two published reference
points), `markdown` (the renderer); the overfitting rule is `core.overfitting`, below both the
forecast and this package, re-exported here. `board` keeps the advice of a run as state over
its validations. This package re-exports the names of `__all__`.

Constants fitted on someone else's data (WebText2, C4, MassiveText) are defaults and sanity
anchors, never truths about a user's run; each is a keyword argument.
"""
from __future__ import annotations

from ..overfitting import OverfittingAdvice, observed_overfitting, robust_noise
from .markdown import advice_markdown
from .references import (CHINCHILLA_TOKENS_PER_PARAM, KAPLAN_ALPHA_S, ChinchillaReference, EfficientPoint,
                         chinchilla_reference, kaplan_efficient_point)
from .repetition import PASS_WORTH_PAYING, REPEATED_EPOCHS_LIMIT, RepetitionAdvice, repeated_data
from .stop import FinalDecay, StopAdvice, final_decay, recommended_stop
from .unique_data import (DATA_LIMIT_COEFFICIENT, DATA_LIMIT_EXPONENT, KAPLAN_ALPHA_D, KAPLAN_ALPHA_N, KAPLAN_D_C,
                          KAPLAN_N_C, DataLimitAdvice, data_limit)

__all__ = [
    "CHINCHILLA_TOKENS_PER_PARAM",
    "DATA_LIMIT_COEFFICIENT",
    "DATA_LIMIT_EXPONENT",
    "KAPLAN_ALPHA_D",
    "KAPLAN_ALPHA_N",
    "KAPLAN_ALPHA_S",
    "KAPLAN_D_C",
    "KAPLAN_N_C",
    "PASS_WORTH_PAYING",
    "REPEATED_EPOCHS_LIMIT",
    "ChinchillaReference",
    "DataLimitAdvice",
    "EfficientPoint",
    "FinalDecay",
    "OverfittingAdvice",
    "RepetitionAdvice",
    "StopAdvice",
    "advice_markdown",
    "chinchilla_reference",
    "data_limit",
    "final_decay",
    "kaplan_efficient_point",
    "observed_overfitting",
    "recommended_stop",
    "repeated_data",
    "robust_noise",
]
