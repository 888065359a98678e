"""Cross-run scaling laws: fit L(N, D) over many runs and plan compute-optimal budgets.

numpy + scipy only (through `fitting.huber_fit`); no torch, no Lightning.

Two forms:
- "chinchilla": L = E + A/N^α + B/D^β, fitted as Hoffmann et al. (2022) Approach 3: Huber
  (δ = 1e-3) on log loss with the log-sum-exp parameterisation, from their grid of starts.
- "kaplan": L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020 eq. 1.5), same objective.
- "muennighoff": Chinchilla's form in effective parameters N' and effective data D' (Muennighoff
  et al. 2023 eq. 5), for runs that repeat their data; each point also needs its unique tokens U.

The Hoffmann grid has 4,500 starts. Instead of running the local optimiser from each, the
objective is evaluated on the whole grid at once (one vectorised numpy pass) and the optimiser
starts from the best few grid points; `benchmarks/crossrun_fit.py --full-grid` checks that this
reaches the same optimum as all 4,500 starts. Bootstrap refits start from the full-data optimum
and from the resample's best grid point among the full data's best 50.
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from .checks import positive_number, whole_number
from .repetition import DataConstrainedLaw
from .robust import huber, huber_fit
from .status import ScalingLawError

__all__ = [
    "ChinchillaLaw",
    "ComputeOptimal",
    "DataConstrainedLaw",
    "Estimate",
    "KaplanLaw",
    "ScalingLawError",
    "ScalingLawFit",
    "fit_scaling_law",
]

FIT_FILE_FORMAT = "scaling-callback/scaling-law-fit"
FIT_FILE_VERSION = 1


# --------------------------------------------------------------------------------------- laws


def _share(x: float, y: float) -> float:
    """x/(x + y) for exponents, nan unless both are positive (then there is no allocation)."""
    return x / (x + y) if x > 0 and y > 0 else float("nan")


@dataclass(frozen=True)
class ChinchillaLaw:
    """L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022 eq. 2)."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float

    form: ClassVar[str] = "chinchilla"
    names: ClassVar[Tuple[str, ...]] = ("E", "A", "B", "alpha", "beta")
    formula: ClassVar[str] = "L(N, D) = E + A/N^alpha + B/D^beta"

    def loss(self, N, D):
        """Expected loss at N parameters trained on D tokens (array-friendly)."""
        N, D = np.asarray(N, float), np.asarray(D, float)
        # Hoffmann et al. 2022 eq. 2
        return self.E + self.A / N**self.alpha + self.B / D**self.beta

    @property
    def n_opt_exponent(self) -> float:
        """a in N_opt ∝ C^a (Hoffmann et al. 2022 eq. 4: a = β/(α+β))."""
        return _share(self.beta, self.alpha)

    @property
    def d_opt_exponent(self) -> float:
        """b in D_opt ∝ C^b (Hoffmann et al. 2022 eq. 4: b = α/(α+β))."""
        return _share(self.alpha, self.beta)

    def compute_optimal(self, C):
        """(N_opt, D_opt) minimising L under C = 6·N·D FLOPs; nan where α or β ≤ 0."""
        C = np.asarray(C, float)
        # numpy scalars: a zero exponent or an overflow gives inf/nan (refused by the caller),
        # where Python floats would raise ZeroDivisionError / OverflowError
        alpha, beta, A, B = (np.float64(v) for v in (self.alpha, self.beta, self.A, self.B))
        with np.errstate(all="ignore"):
            s = alpha + beta
            # Hoffmann et al. 2022 eq. 4: G = (αA/(βB))^(1/(α+β)), N = G(C/6)^a, D = (C/6)^b/G
            G = (alpha * A / (beta * B)) ** (1.0 / s)
            N = G * (C / 6.0) ** self.n_opt_exponent
            D = (C / 6.0) ** self.d_opt_exponent / G
        if not (self.alpha > 0 and self.beta > 0):
            N, D = np.full_like(C, np.nan), np.full_like(C, np.nan)
        return N, D


@dataclass(frozen=True)
class KaplanLaw:
    """L(N, D) = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020 eq. 1.5)."""

    N_c: float
    D_c: float
    alpha_N: float
    alpha_D: float

    form: ClassVar[str] = "kaplan"
    names: ClassVar[Tuple[str, ...]] = ("N_c", "D_c", "alpha_N", "alpha_D")
    formula: ClassVar[str] = "L(N, D) = [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D"

    def loss(self, N, D):
        """Expected loss at N parameters trained on D tokens (array-friendly)."""
        N, D = np.asarray(N, float), np.asarray(D, float)
        # Kaplan et al. 2020 eq. 1.5
        return ((self.N_c / N) ** (self.alpha_N / self.alpha_D) + self.D_c / D) ** self.alpha_D

    @property
    def n_opt_exponent(self) -> float:
        """a in N_opt ∝ C^a: α_D/(α_N+α_D), from minimising eq. 1.5 under C = 6ND."""
        return _share(self.alpha_D, self.alpha_N)

    @property
    def d_opt_exponent(self) -> float:
        """b in D_opt ∝ C^b: α_N/(α_N+α_D), from minimising eq. 1.5 under C = 6ND."""
        return _share(self.alpha_N, self.alpha_D)

    def compute_optimal(self, C):
        """(N_opt, D_opt) minimising L under C = 6·N·D FLOPs; nan where an exponent ≤ 0."""
        C = np.asarray(C, float)
        alpha_N, alpha_D, N_c, D_c = (np.float64(v) for v in (self.alpha_N, self.alpha_D, self.N_c, self.D_c))
        with np.errstate(all="ignore"):  # numpy scalars: inf/nan instead of ZeroDivisionError / OverflowError
            p = alpha_N / alpha_D
            # d/dN of (N_c/N)^p + 6·D_c·N/C = 0 (eq. 1.5 with D = C/(6N), Kaplan Table 1)
            N = (p * N_c**p * C / (6.0 * D_c)) ** (1.0 / (1.0 + p))
            D = C / (6.0 * N)
        if not (self.alpha_N > 0 and self.alpha_D > 0):
            N, D = np.full_like(C, np.nan), np.full_like(C, np.nan)
        return N, D


Law = Union[ChinchillaLaw, KaplanLaw, DataConstrainedLaw]
_LAWS = {law.form: law for law in (ChinchillaLaw, KaplanLaw, DataConstrainedLaw)}


def law_class(form: str):
    """The law class of a form name ("chinchilla", "kaplan", "muennighoff"); ScalingLawError otherwise."""
    if form not in _LAWS:
        raise ScalingLawError(f"unknown form {form!r}; choose one of {', '.join(_LAWS)}")
    return _LAWS[form]


# ------------------------------------------------------------------------- fit coordinates


@dataclass(frozen=True)
class _FitSpace:
    """How a law is fitted: log-loss model in fit coordinates, starts grid, bounds."""

    law: type
    grid: np.ndarray  # (n_starts, k) starting points in fit coordinates
    lower: Tuple[float, ...]
    upper: Tuple[float, ...]

    def log_loss(self, p, logN, logD, logU=None):
        """log L̂ for parameter rows p (k,) -> (n,) or (m, k) -> (m, n); logU: log unique tokens."""
        cols = [np.asarray(p, float)[..., i, None] for i in range(len(self.lower))]
        if self.law is DataConstrainedLaw:
            return _data_constrained_log_loss(cols, logN, logD, logU)
        if self.law is ChinchillaLaw:
            a, b, e, alpha, beta = cols
            # Hoffmann et al. 2022 eq. 3 / App. D.2: log L̂ = LSE(a − α·log N, b − β·log D, e)
            return np.logaddexp(np.logaddexp(a - alpha * logN, b - beta * logD), e)
        n_c, d_c, alpha_n, alpha_d = cols
        # Kaplan et al. 2020 eq. 1.5 in logs: α_D·LSE((α_N/α_D)(log N_c − log N), log D_c − log D)
        return alpha_d * np.logaddexp(alpha_n / alpha_d * (n_c - logN), d_c - logD)

    def to_law(self, p) -> Optional[Law]:
        """The law at fit coordinates p, or None when a parameter overflows a float (e^710 and
        beyond: the optimiser ran off to infinity, as it does when loss barely varies)."""
        p = [float(v) for v in p]
        logs = p[:3] if self.law is ChinchillaLaw else p[:3] + p[5:] if self.law is DataConstrainedLaw else p[:2]
        if not all(math.isfinite(v) for v in p) or max(logs) >= _MAX_LOG_FLOAT:
            return None
        if self.law is ChinchillaLaw:
            a, b, e, alpha, beta = p
            return ChinchillaLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta)
        if self.law is DataConstrainedLaw:
            a, b, e, alpha, beta, r_d, r_n = p
            return DataConstrainedLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta,
                                      R_D_star=math.exp(r_d), R_N_star=math.exp(r_n))
        n_c, d_c, alpha_n, alpha_d = p
        return KaplanLaw(N_c=math.exp(n_c), D_c=math.exp(d_c), alpha_N=alpha_n, alpha_D=alpha_d)


def _data_constrained_log_loss(cols, logN, logD, logU):
    """log L̂ of the Muennighoff form in (a, b, e, α, β, log R*_D, log R*_N)."""
    a, b, e, alpha, beta, log_rd, log_rn = cols
    r_d, r_n = np.exp(log_rd), np.exp(log_rn)
    # U_N, the compute-optimal N for U tokens (Hoffmann eq. 4 inverted), in logs
    log_g = (np.log(alpha) + a - np.log(beta) - b) / (alpha + beta)
    log_un = np.minimum(logN, log_g + beta / alpha * (logU + log_g))
    reps_n = np.expm1(logN - log_un)
    log_ud = np.minimum(logU, logD)
    reps_d = np.expm1(logD - log_ud)
    # Muennighoff et al. 2023 eq. 5 (D') and its parameter twin (N'), in logs
    log_n_eff = log_un + np.log1p(-r_n * np.expm1(-reps_n / r_n))
    log_d_eff = log_ud + np.log1p(-r_d * np.expm1(-reps_d / r_d))
    return np.logaddexp(np.logaddexp(a - alpha * log_n_eff, b - beta * log_d_eff), e)


def _grid(*axes) -> np.ndarray:
    return np.array(list(itertools.product(*axes)), float)


_INF = math.inf
_MAX_LOG_FLOAT = math.log(np.finfo(float).max)  # ≈ 709.78: exp of anything larger overflows
_SPACES = {
    # Hoffmann et al. 2022 App. D.2 grid, coordinates (a, b, e, α, β):
    # a, b ∈ {0, 5, …, 25}, e ∈ {−1, −.5, …, 1}, α, β ∈ {0, .5, …, 2}: 6·6·5·5·5 = 4,500 starts
    "chinchilla": _FitSpace(
        ChinchillaLaw,
        _grid(np.arange(0, 26, 5), np.arange(0, 26, 5), np.arange(-1, 1.01, 0.5),
              np.arange(0, 2.01, 0.5), np.arange(0, 2.01, 0.5)),
        lower=(-_INF, -_INF, -_INF, 0.0, 0.0),
        upper=(_INF, _INF, _INF, 10.0, 10.0),
    ),
    # Kaplan form, coordinates (log N_c, log D_c, α_N, α_D): exponents from 0.025 to 0.8 in
    # doublings, log N_c, log D_c ∈ {10, 15, …, 60} (Kaplan's own: 31.8, 30.5): 4,356 starts
    "kaplan": _FitSpace(
        KaplanLaw,
        _grid(np.arange(10, 61, 5), np.arange(10, 61, 5), 0.025 * 2.0 ** np.arange(6),
              0.025 * 2.0 ** np.arange(6)),
        lower=(-_INF, -_INF, 1e-4, 1e-4),
        upper=(_INF, _INF, 10.0, 10.0),
    ),
    # Hoffmann's grid (α, β from 0.5: the form divides by them) times log R*_D, log R*_N ∈
    # {log 2, log 8, log 32} (Muennighoff's fit: 15.4 and 5.3): 6·6·5·4·4·3·3 = 25,920 starts
    "muennighoff": _FitSpace(
        DataConstrainedLaw,
        _grid(np.arange(0, 26, 5), np.arange(0, 26, 5), np.arange(-1, 1.01, 0.5),
              np.arange(0.5, 2.01, 0.5), np.arange(0.5, 2.01, 0.5), np.log([2.0, 8.0, 32.0]),
              np.log([2.0, 8.0, 32.0])),
        lower=(-_INF, -_INF, -_INF, 1e-3, 1e-3, math.log(1e-2), math.log(1e-2)),
        upper=(_INF, _INF, _INF, 10.0, 10.0, math.log(1e4), math.log(1e4)),
    ),
}


def _objective_on(space: _FitSpace, starts: np.ndarray, logN, logD, logL, delta, logU=None) -> np.ndarray:
    """The Huber objective at every row of `starts`, in chunks of about a million residuals."""
    out = np.empty(len(starts))
    step = max(1, 1_000_000 // max(1, len(logL)))
    with np.errstate(all="ignore"):
        for i in range(0, len(starts), step):
            r = space.log_loss(starts[i:i + step], logN, logD, logU) - logL
            out[i:i + step] = huber(r, delta).sum(axis=-1)
    return np.where(np.isfinite(out), out, np.inf)


_MAX_RESTARTS = 20
# Huber δ beyond this is least squares for any log-loss residual (|log L̂ − log L| < 1e3 even for
# losses spanning float range), and scipy's cost ½δ²·Σρ overflows near δ = 1e154
_MAX_DELTA = 1e6
_DELTA_RANGE = f"a number in (0, {_MAX_DELTA:g}] (the Huber threshold on log-loss residuals)"
_CONFIDENCE_RANGE = "a number strictly between 0 and 1"


def _local_fit(space: _FitSpace, starts, logN, logD, logL, delta, logU=None):
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
        for _ in range(_MAX_RESTARTS):
            if fit is None or space.to_law(fit.params) is None:
                break  # failed, or ran off to infinity: restarting would only run further
            again = huber_fit(residuals, [fit.params], space.lower, space.upper, delta=delta)
            if again is None or not again.cost < fit.cost * (1.0 - 1e-9):
                break
            fit = again
        if fit is not None and (best is None or fit.cost < best.cost):
            best = fit
    return best


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval (low/high None without one)."""

    value: float
    low: Optional[float] = None
    high: Optional[float] = None

    def as_json(self):
        """A number, or {"value", "low", "high"} when there is an interval."""
        if self.low is None:
            return self.value
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class ComputeOptimal:
    """The compute-optimal allocation of a budget of C = 6·N·D FLOPs."""

    compute: float  # FLOPs
    N: Estimate  # parameters
    D: Estimate  # tokens
    loss: Estimate  # expected loss at (N, D)
    tokens_per_parameter: Estimate  # D/N


@dataclass(frozen=True)
class ScalingLawFit:
    """A law fitted across runs, with bootstrap refits for intervals."""

    law: Law
    bootstrap_laws: Tuple[Law, ...] = ()  # one law per successful bootstrap resample
    confidence: float = 0.95  # level of every interval
    n_points: int = 0  # points fitted
    cost: float = float("nan")  # Σ Huber_δ(log L̂ − log L) at the optimum
    delta: float = 1e-3
    compute_range: Tuple[float, float] = (float("nan"), float("nan"))  # min, max 6ND in the data
    n_bootstrap: int = 0  # resamples asked for (len(bootstrap_laws) of them succeeded)

    @property
    def form(self) -> str:
        return self.law.form

    def _estimate(self, of) -> Estimate:
        """Point value of `of(law)` with the percentile interval over the bootstrap laws."""
        value = float(of(self.law))
        if not self.bootstrap_laws:
            return Estimate(value)
        with np.errstate(all="ignore"):
            samples = np.array([float(of(b)) for b in self.bootstrap_laws])
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            return Estimate(value)
        tail = 50.0 * (1.0 - self.confidence)
        low, high = np.percentile(samples, [tail, 100.0 - tail])
        return Estimate(value, float(low), float(high))

    @property
    def parameters(self) -> Dict[str, Estimate]:
        """Every parameter of the law by name, with its interval."""
        return {name: self._estimate(lambda law, n=name: getattr(law, n)) for name in self.law.names}

    @property
    def n_opt_exponent(self) -> Estimate:
        """a in N_opt ∝ C^a."""
        return self._estimate(lambda law: law.n_opt_exponent)

    @property
    def d_opt_exponent(self) -> Estimate:
        """b in D_opt ∝ C^b."""
        return self._estimate(lambda law: law.d_opt_exponent)

    def expected_loss(self, N: float, D: float, unique_tokens: Optional[float] = None) -> Estimate:
        """Loss expected for N parameters trained on D tokens (drawn from `unique_tokens`
        unique ones: the muennighoff form only; None means all fresh)."""
        _check_positive_scalar("N", N)
        _check_positive_scalar("D", D)
        if unique_tokens is None:
            return self._estimate(lambda law: law.loss(N, D))
        if self.form != DataConstrainedLaw.form:
            raise ScalingLawError(f"unique_tokens needs the {DataConstrainedLaw.form} form; this fit is {self.form}")
        _check_positive_scalar("unique_tokens", unique_tokens)
        return self._estimate(lambda law: law.loss(N, D, unique_tokens))

    def compute_optimal(self, compute: float) -> ComputeOptimal:
        """N, D, expected loss and tokens per parameter for a budget of `compute` FLOPs."""
        _check_positive_scalar("compute", compute)
        N, D = self.law.compute_optimal(compute)
        if not (np.isfinite(N) and np.isfinite(D) and N > 0 and D > 0):
            raise ScalingLawError(
                f"the fitted law has no compute-optimal allocation ({_law_text(self.law)}): "
                "loss must fall with both N and D (exponents > 0)")

        def n_opt(law):
            return law.compute_optimal(compute)[0]

        def d_opt(law):
            return law.compute_optimal(compute)[1]

        return ComputeOptimal(
            compute=float(compute),
            N=self._estimate(n_opt),
            D=self._estimate(d_opt),
            loss=self._estimate(lambda law: law.loss(n_opt(law), d_opt(law))),
            tokens_per_parameter=self._estimate(lambda law: d_opt(law) / n_opt(law)),
        )

    def to_dict(self) -> dict:
        """A JSON-ready description that `from_dict` (and `load`) read back."""
        return {
            "format": FIT_FILE_FORMAT,
            "version": FIT_FILE_VERSION,
            "form": self.form,
            "formula": self.law.formula,
            "parameters": {n: float(getattr(self.law, n)) for n in self.law.names},
            "confidence": self.confidence,
            "n_points": self.n_points,
            "cost": self.cost,
            "delta": self.delta,
            "compute_range": list(self.compute_range),
            "n_bootstrap": self.n_bootstrap,
            "bootstrap": [[float(getattr(b, n)) for n in b.names] for b in self.bootstrap_laws],
        }

    def save(self, path) -> None:
        """Write the fit as JSON (read back with `ScalingLawFit.load`; `scaling-callback plan` reads it)."""
        with open(path, "w") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path) -> "ScalingLawFit":
        """Read a fit written by `save`."""
        with open(path) as f:
            try:
                obj = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # UnicodeDecodeError: a binary file
                raise ScalingLawError(f"{path} is not a JSON text file: {exc}") from None
        return cls.from_dict(obj)

    @classmethod
    def from_dict(cls, obj: dict) -> "ScalingLawFit":
        if not isinstance(obj, dict) or obj.get("format") != FIT_FILE_FORMAT:
            raise ScalingLawError(f"not a saved scaling-law fit (expected \"format\": \"{FIT_FILE_FORMAT}\")")
        if obj.get("version") != FIT_FILE_VERSION:
            raise ScalingLawError(f"saved fit has version {obj.get('version')!r}; this reader knows {FIT_FILE_VERSION}")
        form = obj.get("form")
        law_type = _LAWS.get(form) if isinstance(form, str) else None
        if law_type is None:
            raise ScalingLawError(f"saved fit has unknown form {obj.get('form')!r}")
        try:
            law = law_type(**{n: float(obj["parameters"][n]) for n in law_type.names})
            boot = tuple(law_type(*map(float, row)) for row in obj.get("bootstrap", []))
            fit = cls(law=law, bootstrap_laws=boot, confidence=float(obj["confidence"]),
                      n_points=int(obj["n_points"]), cost=float(obj["cost"]), delta=float(obj["delta"]),
                      compute_range=tuple(map(float, obj["compute_range"])),
                      n_bootstrap=int(obj.get("n_bootstrap", len(boot))))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ScalingLawError(f"saved fit is incomplete or malformed: {exc!r}") from None
        parameters = [getattr(b, n) for b in (law,) + boot for n in law_type.names]
        if not all(math.isfinite(v) for v in parameters):
            raise ScalingLawError("saved fit is malformed: its parameters must be finite numbers")
        if len(fit.compute_range) != 2:  # NaN, NaN for a law not fitted on runs (a published one)
            raise ScalingLawError("saved fit is malformed: compute_range must be two numbers")
        if not 0.0 < fit.confidence < 1.0:
            raise ScalingLawError(f"saved fit is malformed: confidence {fit.confidence!r} is not in (0, 1)")
        return fit


def _law_text(law: Law) -> str:
    return ", ".join(f"{n} = {getattr(law, n):.4g}" for n in law.names)


# ---------------------------------------------------------------------------- fitting


def _check_positive_scalar(name, x):
    if not np.isscalar(x):
        raise ScalingLawError(f"{name} must be a positive finite number, got {x!r}")
    positive_number(x, name, error=ScalingLawError, what="a positive finite number")


def _check_options(confidence, n_bootstrap, seed, delta, n_starts):
    """(confidence, n_bootstrap, seed, delta, n_starts) as float/int, or a ScalingLawError naming
    the option of a wrong type or range."""
    confidence = positive_number(confidence, "confidence", error=ScalingLawError, what=_CONFIDENCE_RANGE)
    if confidence >= 1.0:
        raise ScalingLawError(f"confidence must be {_CONFIDENCE_RANGE}, got {confidence!r}")
    delta = positive_number(delta, "delta", error=ScalingLawError, what=_DELTA_RANGE)
    if delta > _MAX_DELTA:
        raise ScalingLawError(f"delta must be {_DELTA_RANGE}, got {delta!r}")
    return (confidence, whole_number(n_bootstrap, "n_bootstrap", error=ScalingLawError),
            whole_number(seed, "seed", none_ok=True, error=ScalingLawError), delta,
            whole_number(n_starts, "n_starts", minimum=1, error=ScalingLawError))


def _check_points(N, D, loss, form, unique_tokens=None):
    """(N, D, loss, U) as float arrays, U None unless the form needs it; ScalingLawError otherwise."""
    if not isinstance(form, str) or form not in _SPACES:
        raise ScalingLawError(f"unknown form {form!r}; choose one of {', '.join(_SPACES)}")
    needs_u = _SPACES[form].law is DataConstrainedLaw
    if needs_u and unique_tokens is None:
        raise ScalingLawError(f"the {form} form needs each run's unique tokens U (unique_tokens=, or a "
                              "CSV column U): it models what repeating U tokens over D is worth")
    if unique_tokens is not None and not needs_u:
        raise ScalingLawError(f"unique tokens only enter the {DataConstrainedLaw.form} form; "
                              f"the {form} form treats every token as fresh")
    arrays = {}
    columns = (("N", N), ("D", D), ("loss", loss)) + ((("U", unique_tokens),) if needs_u else ())
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
    law = _SPACES[form].law
    k, n = len(law.names), sizes["N"]
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
    return arrays["N"], arrays["D"], arrays["loss"], arrays.get("U")


def fit_scaling_law(
    N: Sequence[float],
    D: Sequence[float],
    loss: Sequence[float],
    form: str = "chinchilla",
    *,
    n_bootstrap: int = 200,
    confidence: float = 0.95,
    seed: Optional[int] = 0,
    delta: float = 1e-3,
    n_starts: int = 10,
    unique_tokens: Optional[Sequence[float]] = None,
) -> ScalingLawFit:
    """Fit a scaling law L(N, D) to final losses of several runs.

    N: parameters of each run (non-embedding for the Kaplan convention), D: tokens each run
    trained on, loss: its final (or best) loss, one value per run; all positive.
    form: "chinchilla" (E + A/N^α + B/D^β), "kaplan" ([(N_c/N)^(α_N/α_D) + D_c/D]^α_D) or
    "muennighoff" (E + A/N'^α + B/D'^β, Muennighoff et al. 2023 eq. 5; needs `unique_tokens`,
    the unique tokens U each run drew its D from, and runs that repeat data, D > U, to identify
    R*_D).
    Minimises Σ Huber_δ(log L̂ − log L) (Hoffmann et al. 2022 eq. 3, δ = 1e-3) from the
    `n_starts` best points of the form's starting grid (the objective is evaluated on the whole
    grid first). `n_bootstrap` resamples of the points (with replacement) are refitted for
    percentile intervals at `confidence`; 0 skips them (seed: None or a whole number ≥ 0).
    Raises ScalingLawError, and no other exception, on bad input (too few points, non-positive
    values, N or D not varied, every loss equal, an option of the wrong type or range, e.g.
    delta outside (0, 1e6]) or when no start gives a fit or the fit diverges (a parameter overflows).
    """
    N, D, loss, U = _check_points(N, D, loss, form, unique_tokens)
    confidence, n_bootstrap, seed, delta, n_starts = _check_options(confidence, n_bootstrap, seed, delta, n_starts)
    space = _SPACES[form]
    logN, logD, logL = np.log(N), np.log(D), np.log(loss)
    logU = None if U is None else np.log(U)

    objective = _objective_on(space, space.grid, logN, logD, logL, delta, logU)
    ranked = space.grid[np.argsort(objective, kind="stable")]
    best = _local_fit(space, ranked[:n_starts], logN, logD, logL, delta, logU)
    if best is None:
        raise ScalingLawError(f"the {form} fit failed from every start (no finite objective)")
    law = space.to_law(best.params)
    if law is None:
        raise ScalingLawError(
            f"the {form} fit diverged (a parameter overflows a float); the losses hardly vary with N and D "
            "for this form: try the other form or runs spread over more sizes")

    boot = []
    if n_bootstrap:
        rng = np.random.default_rng(seed)
        candidates = ranked[:50]
        for _ in range(int(n_bootstrap)):
            idx = rng.integers(0, N.size, N.size)
            if np.unique(N[idx]).size < 2 or np.unique(D[idx]).size < 2:
                continue  # this resample cannot identify the law
            x = logN[idx], logD[idx], logL[idx]
            u = None if logU is None else logU[idx]
            grid_best = candidates[np.argmin(_objective_on(space, candidates, *x, delta, u))]
            refit = _local_fit(space, [best.params, grid_best], *x, delta, u)
            refit_law = None if refit is None else space.to_law(refit.params)
            if refit_law is not None:  # a diverged resample is left out like a failed one
                boot.append(refit_law)

    C = 6.0 * N * D
    return ScalingLawFit(
        law=law,
        bootstrap_laws=tuple(boot),
        confidence=float(confidence),
        n_points=int(N.size),
        cost=float(best.cost),
        delta=float(delta),
        compute_range=(float(C.min()), float(C.max())),
        n_bootstrap=int(n_bootstrap),
    )
