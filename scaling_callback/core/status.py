"""Why a result is what it is, in a form code can test: every result that can fail (a
`Forecast`, an `Assessment`) carries a `status` beside its human `reason`, so nothing parses
reason strings. What raises instead (a cross-run fit with nothing to fit) raises one documented
exception type."""
from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """The outcome of a forecast; its value is a short stable code (also in the CLI's JSON)."""

    OK = "ok"
    BAD_INPUT = "bad_input"  # arguments that are not usable (wrong type, out of range)
    TOO_FEW_POINTS = "too_few_points"  # fewer finite validation losses than a fit needs
    DIVERGING = "diverging"  # the latest losses sit far above the best so far
    FIT_FAILED = "fit_failed"  # the law could not be fitted, or gave a non-physical loss
    NO_TARGET = "no_target"  # nothing to forecast: no planned end and no horizon ahead
    ERROR = "error"  # an unexpected exception, caught so that training goes on

    def __str__(self) -> str:
        return self.value


class ScalingLawError(ValueError):
    """Bad input for a cross-run fit or its readers (the message says what is missing), or no fit found."""
