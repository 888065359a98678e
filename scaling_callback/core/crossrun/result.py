"""A law fitted across runs: its point estimates with bootstrap intervals, the compute-optimal
allocation of a budget, and the JSON file `fit --save` writes (numpy only)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..status import ScalingLawError
from .inputs import check_positive_scalar
from .laws import LAWS, DataConstrainedLaw, Law

__all__ = ["FIT_FILE_FORMAT", "FIT_FILE_VERSION", "ComputeOptimal", "Estimate", "ScalingLawFit", "law_text"]

FIT_FILE_FORMAT = "scaling-callback/scaling-law-fit"
FIT_FILE_VERSION = 1


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
    # laws refitted on draws of the forecast points alone (every point once): the spread that
    # finishing the ladder's unfinished runs could still change (empty when every run finished)
    ladder_laws: Tuple[Law, ...] = ()
    n_forecast: int = 0  # points that are forecasts of runs still training (with an interval)

    @property
    def form(self) -> str:
        return self.law.form

    def estimate(self, of) -> Estimate:
        """Point value of `of(law)` with the percentile interval over the bootstrap laws.

        `of` maps a law (`ChinchillaLaw`, `KaplanLaw` or `DataConstrainedLaw`) to a number; it is
        called on the fitted law and on each bootstrap law. Every other estimate of the fit
        (`parameters`, `expected_loss`, `compute_optimal`) is one of these.
        """
        return self._percentiles(of, self.bootstrap_laws)

    def ladder_spread(self, of) -> Estimate:
        """`estimate` over `ladder_laws`: how far `of(law)` may still move as the unfinished runs
        end within their forecasts' distributions (no interval when every run finished)."""
        return self._percentiles(of, self.ladder_laws)

    def _percentiles(self, of, laws) -> Estimate:
        value = float(of(self.law))
        if not laws:
            return Estimate(value)
        with np.errstate(all="ignore"):
            samples = np.array([float(of(b)) for b in laws])
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            return Estimate(value)
        tail = 50.0 * (1.0 - self.confidence)
        low, high = np.percentile(samples, [tail, 100.0 - tail])
        return Estimate(value, float(low), float(high))

    @property
    def parameters(self) -> Dict[str, Estimate]:
        """Every parameter of the law by name, with its interval."""
        return {name: self.estimate(lambda law, n=name: getattr(law, n)) for name in self.law.names}

    @property
    def n_opt_exponent(self) -> Estimate:
        """a in N_opt ∝ C^a."""
        return self.estimate(lambda law: law.n_opt_exponent)

    @property
    def d_opt_exponent(self) -> Estimate:
        """b in D_opt ∝ C^b."""
        return self.estimate(lambda law: law.d_opt_exponent)

    def expected_loss(self, N: float, D: float, unique_tokens: Optional[float] = None) -> Estimate:
        """Loss expected for N parameters trained on D tokens (drawn from `unique_tokens`
        unique ones: the muennighoff form only; None means all fresh)."""
        check_positive_scalar("N", N)
        check_positive_scalar("D", D)
        if unique_tokens is None:
            return self.estimate(lambda law: law.loss(N, D))
        if self.form != DataConstrainedLaw.form:
            raise ScalingLawError(f"unique_tokens needs the {DataConstrainedLaw.form} form; this fit is {self.form}")
        check_positive_scalar("unique_tokens", unique_tokens)
        return self.estimate(lambda law: law.loss(N, D, unique_tokens))

    def compute_optimal(self, compute: float) -> ComputeOptimal:
        """N, D, expected loss and tokens per parameter for a budget of `compute` FLOPs."""
        check_positive_scalar("compute", compute)
        N, D = self.law.compute_optimal(compute)
        if not (np.isfinite(N) and np.isfinite(D) and N > 0 and D > 0):
            raise ScalingLawError(
                f"the fitted law has no compute-optimal allocation ({law_text(self.law)}): "
                "loss must fall with both N and D (exponents > 0)")

        def n_opt(law):
            return law.compute_optimal(compute)[0]

        def d_opt(law):
            return law.compute_optimal(compute)[1]

        return ComputeOptimal(
            compute=float(compute),
            N=self.estimate(n_opt),
            D=self.estimate(d_opt),
            loss=self.estimate(lambda law: law.loss(n_opt(law), d_opt(law))),
            tokens_per_parameter=self.estimate(lambda law: d_opt(law) / n_opt(law)),
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
            "n_forecast": self.n_forecast,
            "ladder": [[float(getattr(b, n)) for n in b.names] for b in self.ladder_laws],
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
        law_type = LAWS.get(form) if isinstance(form, str) else None
        if law_type is None:
            raise ScalingLawError(f"saved fit has unknown form {obj.get('form')!r}")
        try:
            law = law_type(**{n: float(obj["parameters"][n]) for n in law_type.names})
            boot = tuple(law_type(*map(float, row)) for row in obj.get("bootstrap", []))
            ladder = tuple(law_type(*map(float, row)) for row in obj.get("ladder", []))
            fit = cls(law=law, bootstrap_laws=boot, confidence=float(obj["confidence"]),
                      n_points=int(obj["n_points"]), cost=float(obj["cost"]), delta=float(obj["delta"]),
                      compute_range=tuple(map(float, obj["compute_range"])),
                      n_bootstrap=int(obj.get("n_bootstrap", len(boot))), ladder_laws=ladder,
                      n_forecast=int(obj.get("n_forecast", 0)))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise ScalingLawError(f"saved fit is incomplete or malformed: {exc!r}") from None
        parameters = [getattr(b, n) for b in (law,) + boot + ladder for n in law_type.names]
        if not all(math.isfinite(v) for v in parameters):
            raise ScalingLawError("saved fit is malformed: its parameters must be finite numbers")
        if len(fit.compute_range) != 2:  # NaN, NaN for a law not fitted on runs (a published one)
            raise ScalingLawError("saved fit is malformed: compute_range must be two numbers")
        if not 0.0 < fit.confidence < 1.0:
            raise ScalingLawError(f"saved fit is malformed: confidence {fit.confidence!r} is not in (0, 1)")
        return fit


def law_text(law: Law) -> str:
    return ", ".join(f"{n} = {getattr(law, n):.4g}" for n in law.names)
