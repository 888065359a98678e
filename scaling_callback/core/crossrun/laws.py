"""The three forms of a scaling law L(N, D) fitted across runs, and the published constants
they need (numpy only).

- `ChinchillaLaw`: L = E + A/N^α + B/D^β (Hoffmann et al. 2022 eq. 2).
- `KaplanLaw`: L = [(N_c/N)^(α_N/α_D) + D_c/D]^α_D (Kaplan et al. 2020 eq. 1.5).
- `DataConstrainedLaw`: Chinchilla's form in effective parameters N' and effective data D'
  (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models"), for runs that repeat
  their data.

Effective data (Muennighoff et al. eq. 5): D tokens drawn from U unique ones are worth
D' = U_D + U_D·R*_D·(1 − e^(−R_D/R*_D)) fresh tokens, U_D = min(U, D), R_D = D/U_D − 1.
Effective parameters, the same form: N' = U_N + U_N·R*_N·(1 − e^(−R_N/R*_N)), where U_N is the
compute-optimal model size for U unique tokens and R_N = N/U_N − 1 (parameters past it are worth
less).

Muennighoff constants: the authors' released fit (huggingface/datablations README, "Parametric
Fit"), a, b, e, α, β, R*_D, R*_N = 6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596,
15.387756, 5.309743 with A = e^a, B = e^b, E = e^e; their example: L(6.34e9, 242e9, U = 25e9)
= 2.22564.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Tuple, Union

import numpy as np

from ..status import ScalingLawError

__all__ = [
    "ChinchillaLaw",
    "DataConstrainedLaw",
    "KaplanLaw",
    "Law",
    "MUENNIGHOFF_2023",
    "effective_tokens",
    "law_class",
]


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


# Muennighoff et al. 2023, released fit (datablations README "Parametric Fit"); log-space a, b, e
MUENNIGHOFF_E = math.exp(0.6254804)
MUENNIGHOFF_A = math.exp(6.255414)
MUENNIGHOFF_B = math.exp(7.3049974)
MUENNIGHOFF_ALPHA = 0.3526596
MUENNIGHOFF_BETA = 0.3526596
MUENNIGHOFF_R_STAR_D = 15.387756
MUENNIGHOFF_R_STAR_N = 5.309743


def effective_tokens(tokens, unique_tokens, r_star=MUENNIGHOFF_R_STAR_D):
    """D' of Muennighoff et al. 2023 eq. 5 (array-friendly); unique_tokens = inf means all fresh."""
    d, u = np.asarray(tokens, float), np.asarray(unique_tokens, float)
    with np.errstate(all="ignore"):
        u_d = np.minimum(u, d)
        reps = np.where(np.isfinite(u_d), np.maximum(d / u_d - 1.0, 0.0), 0.0)
        # Muennighoff et al. 2023 eq. 5
        out = u_d + u_d * r_star * -np.expm1(-reps / r_star)
    return np.where(np.isfinite(u_d), out, d)


@dataclass(frozen=True)
class DataConstrainedLaw:
    """L(N, D, U) = E + A/N'^α + B/D'^β (Muennighoff et al. 2023 eq. 5 for D', same form for N')."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    R_D_star: float
    R_N_star: float

    form: ClassVar[str] = "muennighoff"
    names: ClassVar[Tuple[str, ...]] = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    formula: ClassVar[str] = ("L(N, D, U) = E + A/N'^alpha + B/D'^beta, "
                              "D' = U + U*R_D_star*(1 - exp(-(D/U - 1)/R_D_star)), N' alike")

    def optimal_params_for(self, tokens):
        """U_N: the compute-optimal N for `tokens` (Hoffmann eq. 4 inverted: N = G·(D·G)^(β/α))."""
        G = (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))
        return G * (np.asarray(tokens, float) * G) ** (self.beta / self.alpha)

    def effective_params(self, N, unique_tokens):
        """N' of Muennighoff et al. 2023: parameters past U_N decay like repeated tokens (R*_N)."""
        N = np.asarray(N, float)
        with np.errstate(all="ignore"):
            u_n = np.minimum(N, self.optimal_params_for(unique_tokens))
            reps = np.maximum(N / u_n - 1.0, 0.0)
            out = u_n + u_n * self.R_N_star * -np.expm1(-reps / self.R_N_star)
        return np.where(np.isfinite(np.asarray(unique_tokens, float)), out, N)

    def loss(self, N, D, unique_tokens=math.inf):
        """Expected loss of N parameters trained on D tokens drawn from `unique_tokens` (inf: all fresh)."""
        N, D = np.asarray(N, float), np.asarray(D, float)
        n_eff = self.effective_params(N, unique_tokens)
        d_eff = effective_tokens(D, unique_tokens, self.R_D_star)
        # Muennighoff et al. 2023: Chinchilla's eq. 2 in N', D'
        return self.E + self.A / n_eff**self.alpha + self.B / d_eff**self.beta

    @property
    def n_opt_exponent(self) -> float:
        """a in N_opt ∝ C^a with fresh data (Hoffmann et al. 2022 eq. 4: β/(α+β))."""
        return self.beta / (self.alpha + self.beta) if self.alpha > 0 and self.beta > 0 else float("nan")

    @property
    def d_opt_exponent(self) -> float:
        """b in D_opt ∝ C^b with fresh data (Hoffmann et al. 2022 eq. 4: α/(α+β))."""
        return self.alpha / (self.alpha + self.beta) if self.alpha > 0 and self.beta > 0 else float("nan")

    def compute_optimal(self, C):
        """(N_opt, D_opt) under C = 6ND with unlimited fresh data: Hoffmann et al. 2022 eq. 4."""
        return ChinchillaLaw(self.E, self.A, self.B, self.alpha, self.beta).compute_optimal(C)


MUENNIGHOFF_2023 = DataConstrainedLaw(
    E=MUENNIGHOFF_E, A=MUENNIGHOFF_A, B=MUENNIGHOFF_B, alpha=MUENNIGHOFF_ALPHA, beta=MUENNIGHOFF_BETA,
    R_D_star=MUENNIGHOFF_R_STAR_D, R_N_star=MUENNIGHOFF_R_STAR_N)


Law = Union[ChinchillaLaw, KaplanLaw, DataConstrainedLaw]
LAWS = {law.form: law for law in (ChinchillaLaw, KaplanLaw, DataConstrainedLaw)}  # form name -> law class


def law_class(form: str):
    """The law class of a form name ("chinchilla", "kaplan", "muennighoff"); ScalingLawError otherwise."""
    if form not in LAWS:
        raise ScalingLawError(f"unknown form {form!r}; choose one of {', '.join(LAWS)}")
    return LAWS[form]
