"""Repeated data: Muennighoff et al. 2023, "Scaling Data-Constrained Language Models".

Effective data (their eq. 5): D tokens drawn from U unique ones are worth
D' = U_D + U_D·R*_D·(1 − e^(−R_D/R*_D)) fresh tokens, U_D = min(U, D), R_D = D/U_D − 1.
Effective parameters, the same form: N' = U_N + U_N·R*_N·(1 − e^(−R_N/R*_N)), where U_N is the
compute-optimal model size for U unique tokens and R_N = N/U_N − 1 (parameters past it are worth
less). The law is Chinchilla's with N', D' in place of N, D.

Constants: the authors' released fit (huggingface/datablations README, "Parametric Fit"),
a, b, e, α, β, R*_D, R*_N = 6.255414, 7.3049974, 0.6254804, 0.3526596, 0.3526596, 15.387756,
5.309743 with A = e^a, B = e^b, E = e^e; their example: L(6.34e9, 242e9, U = 25e9) = 2.22564.

numpy only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Tuple

import numpy as np

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
        from .crossrun import ChinchillaLaw

        return ChinchillaLaw(self.E, self.A, self.B, self.alpha, self.beta).compute_optimal(C)


MUENNIGHOFF_2023 = DataConstrainedLaw(
    E=MUENNIGHOFF_E, A=MUENNIGHOFF_A, B=MUENNIGHOFF_B, alpha=MUENNIGHOFF_ALPHA, beta=MUENNIGHOFF_BETA,
    R_D_star=MUENNIGHOFF_R_STAR_D, R_N_star=MUENNIGHOFF_R_STAR_N)
