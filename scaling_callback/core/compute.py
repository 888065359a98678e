"""Training compute and data-use ratios from N (parameters) and D (tokens): plain numpy, no torch.

Every function accepts Python numbers or numpy arrays (broadcast together) and returns a float
for scalar input, an array otherwise. Bad input (negative counts, a zero parameter count, a
partial context term) raises ValueError: a wrong number is never returned silently.
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .checks import whole_number

ArrayLike = Union[float, int, np.ndarray]

# 1 PF-day = 1e15 FLOP/s × 86,400 s = 8.64e19 FLOPs (Kaplan et al. 2020 §1.3, notation)
PF_DAY_FLOPS = 8.64e19


def _as_float(x, name: str, allow_zero: bool) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if np.any(a < 0) or (not allow_zero and np.any(a == 0)):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {x!r}")
    return a


def _out(a: np.ndarray):
    return float(a) if a.ndim == 0 else a


def context_flops_per_token(n_layer: Optional[int], n_ctx: Optional[int], d_attn: Optional[int]) -> float:
    """The attention-context term of training FLOPs per token, 6·n_layer·n_ctx·d_attn.

    Kaplan et al. 2020 eq. 2.2 and Table 1: forward pass 2N + 2·n_layer·n_ctx·d_attn FLOPs per
    token; with the backward pass (twice the forward) training costs three times that. All three
    sizes or none: none gives 0.0 (the plain C = 6·N·D).
    """
    given = [v is not None for v in (n_layer, n_ctx, d_attn)]
    if not any(given):
        return 0.0
    if not all(given):
        raise ValueError("the context term needs all of n_layer, n_ctx and d_attn (or none of them); "
                         f"got n_layer={n_layer!r}, n_ctx={n_ctx!r}, d_attn={d_attn!r}")
    for name, v in (("n_layer", n_layer), ("n_ctx", n_ctx), ("d_attn", d_attn)):
        if isinstance(v, float):  # a float, even integral, is not a layer count
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
        whole_number(v, name, minimum=1)
    return 6.0 * n_layer * n_ctx * d_attn  # Kaplan et al. 2020 eq. 2.2, Table 1 (training = 3 × forward)


def training_flops(n_params: ArrayLike, tokens: ArrayLike, n_layer: Optional[int] = None,
                   n_ctx: Optional[int] = None, d_attn: Optional[int] = None):
    """Training compute in FLOPs: C = 6·N·D, or (6N + 6·n_layer·n_ctx·d_attn)·D with the context term.

    `n_params` is N (> 0), `tokens` is D (≥ 0). C ≈ 6·N·D is Kaplan et al. 2020's C ≈ 6NBS (§1.3,
    D = B·S tokens), from eq. 2.2 and Table 1. The context term is added when n_layer, n_ctx and
    d_attn are all given; it matters when d_model is not ≫ n_ctx/12.
    """
    n = _as_float(n_params, "n_params", allow_zero=False)
    d = _as_float(tokens, "tokens", allow_zero=True)
    # Kaplan et al. 2020 §1.3 (C ≈ 6NBS) and eq. 2.2
    return _out((6.0 * n + context_flops_per_token(n_layer, n_ctx, d_attn)) * d)


def pf_days(flops: ArrayLike):
    """FLOPs expressed in PF-days (1 PF-day = 8.64e19 FLOPs; Kaplan et al. 2020 §1.3)."""
    return _out(_as_float(flops, "flops", allow_zero=True) / PF_DAY_FLOPS)


def tokens_per_param(tokens: ArrayLike, n_params: ArrayLike):
    """D/N: training tokens per parameter (Hoffmann et al. 2022 put the compute optimum near 20)."""
    d = _as_float(tokens, "tokens", allow_zero=True)
    return _out(d / _as_float(n_params, "n_params", allow_zero=False))


def epochs_seen(tokens: ArrayLike, tokens_per_epoch: ArrayLike):
    """Passes over the data: D / (unique tokens per epoch) (Muennighoff et al. 2023 count repeats so)."""
    d = _as_float(tokens, "tokens", allow_zero=True)
    return _out(d / _as_float(tokens_per_epoch, "tokens_per_epoch", allow_zero=False))
