"""What the cross-run fit accepts: the points (N, D, loss and, for the muennighoff form, U) and
its options, checked so that bad input is a ScalingLawError naming what is wrong (numpy only)."""
from __future__ import annotations

import math

import numpy as np

from ..checks import positive_number, whole_number
from ..status import ScalingLawError
from .laws import DataConstrainedLaw
from .space import FIT_SPACES

__all__ = ["BOOTSTRAP_RANGE", "CONFIDENCE_RANGE", "DELTA_RANGE", "MAX_BOOTSTRAP", "MAX_DELTA", "check_options",
           "check_points", "check_positive_scalar"]

# Huber δ beyond this is least squares for any log-loss residual (|log L̂ − log L| < 1e3 even for
# losses spanning float range), and scipy's cost ½δ²·Σρ overflows near δ = 1e154
MAX_DELTA = 1e6
DELTA_RANGE = f"a number in (0, {MAX_DELTA:g}] (the Huber threshold on log-loss residuals)"
CONFIDENCE_RANGE = "a number strictly between 0 and 1"
# percentile intervals need about 1,000 resamples (Efron & Tibshirani 1993, An Introduction to the
# Bootstrap); ten times that leaves their Monte Carlo error far below the points' own, and more
# only costs time: each resample is a refit (10**9 of them ran for years)
MAX_BOOTSTRAP = 10_000
BOOTSTRAP_RANGE = (f"a whole number from 0 (no intervals) to {MAX_BOOTSTRAP} (percentile intervals need about "
                   "1,000 resamples; each one is a refit)")


def check_positive_scalar(name, x) -> None:
    """ScalingLawError naming `name` unless `x` is one positive finite number."""
    if not np.isscalar(x):
        raise ScalingLawError(f"{name} must be a positive finite number, got {x!r}")
    positive_number(x, name, error=ScalingLawError, what="a positive finite number")


def check_options(confidence, n_bootstrap, seed, delta, n_starts):
    """(confidence, n_bootstrap, seed, delta, n_starts) as float/int, or a ScalingLawError naming
    the option of a wrong type or range."""
    confidence = positive_number(confidence, "confidence", error=ScalingLawError, what=CONFIDENCE_RANGE)
    if confidence >= 1.0:
        raise ScalingLawError(f"confidence must be {CONFIDENCE_RANGE}, got {confidence!r}")
    delta = positive_number(delta, "delta", error=ScalingLawError, what=DELTA_RANGE)
    if delta > MAX_DELTA:
        raise ScalingLawError(f"delta must be {DELTA_RANGE}, got {delta!r}")
    n_bootstrap = whole_number(n_bootstrap, "n_bootstrap", maximum=MAX_BOOTSTRAP, what=BOOTSTRAP_RANGE,
                               error=ScalingLawError)
    return (confidence, n_bootstrap,
            whole_number(seed, "seed", none_ok=True, error=ScalingLawError), delta,
            whole_number(n_starts, "n_starts", minimum=1, error=ScalingLawError))


def check_points(N, D, loss, form, unique_tokens=None):
    """(N, D, loss, U) as float arrays, U None unless the form needs it; ScalingLawError otherwise."""
    needs_u = _needs_unique_tokens(form, unique_tokens)
    columns = (("N", N), ("D", D), ("loss", loss)) + ((("U", unique_tokens),) if needs_u else ())
    arrays = _positive_columns(columns)
    _check_identifiable(arrays, form)
    return arrays["N"], arrays["D"], arrays["loss"], arrays.get("U")


def _needs_unique_tokens(form, unique_tokens) -> bool:
    """Whether the form needs each point's unique tokens U, after checking the form's name and
    that U is given exactly when it does."""
    if not isinstance(form, str) or form not in FIT_SPACES:
        raise ScalingLawError(f"unknown form {form!r}; choose one of {', '.join(FIT_SPACES)}")
    needs_u = FIT_SPACES[form].law is DataConstrainedLaw
    if needs_u and unique_tokens is None:
        raise ScalingLawError(f"the {form} form needs each run's unique tokens U (unique_tokens=, or a "
                              "CSV column U): it models what repeating U tokens over D is worth")
    if unique_tokens is not None and not needs_u:
        raise ScalingLawError(f"unique tokens only enter the {DataConstrainedLaw.form} form; "
                              f"the {form} form treats every token as fresh")
    return needs_u


def _positive_columns(columns):
    """{name: float array} of the (name, values) columns, all of one size, positive and finite."""
    arrays = {}
    for name, x in columns:
        try:
            a = np.asarray(x, float).ravel()
        except (TypeError, ValueError):
            raise ScalingLawError(f"{name} must be numbers") from None
        arrays[name] = a
    sizes = {n: a.size for n, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ScalingLawError(f"{', '.join(arrays)} must have one value per point; got sizes "
                              + ", ".join(f"{n}: {s}" for n, s in sizes.items()))
    for name, a in arrays.items():
        bad = np.flatnonzero(~np.isfinite(a) | (a <= 0))
        if bad.size:
            raise ScalingLawError(
                f"{name} must be positive and finite at every point; {bad.size} of {a.size} are not "
                f"(first at index {bad[0]}: {a[bad[0]]!r})")
    return arrays


def _check_identifiable(arrays, form) -> None:
    """ScalingLawError unless the points can determine the form's law: as many points as it has
    parameters, N and D each varied, the loss varied, and every compute 6·N·D a finite float."""
    law = FIT_SPACES[form].law
    k, n = len(law.names), arrays["N"].size
    if n < k:
        raise ScalingLawError(
            f"the {form} form has {k} parameters ({', '.join(law.names)}) and needs at least {k} "
            f"points (N, D, loss); got {n}")
    for name, what in (("N", "model sizes"), ("D", "token counts")):
        distinct = np.unique(arrays[name])
        if distinct.size < 2:
            raise ScalingLawError(
                f"every point has the same {name} = {distinct[0]:.6g}: the fit needs runs of at least "
                f"2 different {what} ({name} varied) to tell how loss depends on {name}")
    if np.unique(arrays["loss"]).size < 2:
        raise ScalingLawError(
            f"every point has the same loss = {arrays['loss'][0]:.6g}: loss does not change with N or D, "
            "so there is no scaling law to fit (its exponents and the compute-optimal allocation are undefined)")
    with np.errstate(over="ignore"):
        top = float(np.max(6.0 * arrays["N"] * arrays["D"]))
    if not math.isfinite(top):
        raise ScalingLawError("the compute 6·N·D of some point overflows a float (N·D > 1e307); check the units")
