"""Learning-rate schedules and the kernels of a loss curve under them (numpy only): the
normalised rate, its area, the annealing area and the multi-power loss-drop kernel.

Every function here is a pure function of arrays. A schedule is given as `eta`, the learning rate
at every optimizer step 0..T divided by its peak (so eta <= 1, and a multiplier schedule and
an absolute one give the same eta). References are in data/REFERENCES.md. The laws themselves
are written where they are fitted: core/forecast/law.py (the multi-power law of Luo et al. 2025).
"""
from __future__ import annotations

import numpy as np


def normalized_schedule(lr) -> np.ndarray:
    """The learning rate at every step divided by its peak; None-free, non-negative, finite.

    Raises ValueError when no entry is finite and positive (no schedule to normalise).
    """
    lr = np.asarray(lr, float)
    good = np.isfinite(lr)
    if not np.any(good & (lr > 0)):
        raise ValueError("learning-rate schedule has no finite positive value")
    lr = np.where(good, np.maximum(lr, 0.0), 0.0)
    return lr / lr.max()


# A planned rate that rose by more than this share of its peak between two steps is a restart
# (cosine with warm restarts, a re-warm-up before further training), and a validation loss
# rising with it is the schedule's doing: the drop a decay bought is given back as the rate
# rises again (Luo et al. 2025's drop term turns with the rate), not overfitting. 5%: above the
# wiggle of a schedule read back from an optimizer.
RESTART_RISE = 0.05


def rate_rose(knot_steps, knot_lr, from_step: float, to_step: float) -> bool:
    """Did the learning rate (knots, linear between them and flat beyond) rise by more than
    RESTART_RISE of its peak between from_step and to_step? False for no finite positive rate."""
    ks, kv = np.asarray(knot_steps, float).ravel(), np.asarray(knot_lr, float).ravel()
    if ks.shape != kv.shape:
        return False
    good = np.isfinite(ks) & np.isfinite(kv)
    ks, kv = ks[good], kv[good]
    if not np.any(kv > 0):
        return False
    order = np.argsort(ks, kind="stable")
    ks, kv = ks[order], kv[order]
    inside = kv[(ks > from_step) & (ks < to_step)]
    highest = max(float(np.interp(to_step, ks, kv)), float(inside.max()) if inside.size else -np.inf)
    return highest > float(np.interp(from_step, ks, kv)) + RESTART_RISE * float(kv.max())


def lr_area(eta) -> np.ndarray:
    """S1(t) = Σ_{τ=1..t} η_τ, the forward area (Tissue et al. 2024 eq. 1; Luo et al. 2025 S1 + S_W).

    Index t of the result is the area after step t; S1(0) = 0. Summing from step 1 includes
    the warm-up, so S1 here is Luo et al.'s S1(t) + S_W.
    """
    eta = np.asarray(eta, float)
    return np.concatenate([[0.0], np.cumsum(eta[1:])])


def annealing_area(eta, decay: float = 0.999) -> np.ndarray:
    """S2(t) = Σ_{i≤t} m_i, m_i = λ·m_{i−1} + (η_{i−1} − η_i) (Tissue et al. 2024, eq. 1, λ = decay).

    Only decreases count (a warm-up's increases are not annealing), as in the shared scorer.
    """
    eta = np.asarray(eta, float)
    drop = np.concatenate([[0.0], np.maximum(eta[:-1] - eta[1:], 0.0)])
    momentum = np.empty_like(drop)
    carry = 0.0
    chunk = 256  # m_i = λ^i·Σ_{j≤i} λ^(−j)·d_j within a chunk: exact, and λ^(−256) cannot overflow
    powers = decay ** np.arange(1, chunk + 1)
    for start in range(0, len(drop), chunk):
        d = drop[start:start + chunk]
        p = powers[: len(d)]
        momentum[start:start + chunk] = p * (carry + np.cumsum(d / p))
        carry = momentum[start + len(d) - 1]
    return np.cumsum(momentum)


def multi_power_drop(eta, steps, C: float, beta: float, gamma: float, cells: int = 512,
                     power: float = 1.0) -> np.ndarray:
    """LD(t)/B of the multi-power law (Luo et al. 2025): Σ_k (η_{k−1}^p − η_k^p)·G(η_k^(−γ)·S_k(t)).

    p = `power` = 1 is Luo et al.'s law: every unit of decrease of the rate buys the same drop.
    p < 1 buys more per unit near η = 0 (the drop is linear in the decrease of η^p): what
    lr_scheduling's cool-down branches at high peak rates show against their constant run
    (benchmarks/studies/cooldown_drop.py).

    G(x) = 1 − (C·x + 1)^(−β) and S_k(t) = Σ_{τ=k..t} η_τ, evaluated at each of `steps`
    (integers in 0..T). The sum starts at the schedule's peak (warm-up increases are Luo's S_W,
    not a drop). For speed the drops are pooled into at most `cells` equal blocks of steps, each
    placed at its drop-weighted centre: exact for step changes, within a block's width of exact
    for smooth decays. With η normalised to its peak, C is per step at the peak rate.
    """
    eta = np.asarray(eta, float)
    steps = np.clip(np.asarray(steps).astype(np.int64), 0, len(eta) - 1)
    T = len(eta) - 1
    if T < 1:
        return np.zeros(len(steps))
    S1 = lr_area(eta)
    ep = eta if power == 1.0 else np.maximum(eta, 0.0) ** power
    drop = np.concatenate([[0.0], ep[:-1] - ep[1:]])
    drop[: int(np.argmax(eta)) + 1] = 0.0
    width = max(1, -(-T // cells))
    block = np.arange(T + 1) // width
    nblocks = block[-1] + 1
    total = np.bincount(block, drop, nblocks)
    weight = np.bincount(block, np.abs(drop), nblocks)
    used = weight > 0
    if not np.any(used):
        return np.zeros(len(steps))
    centre = np.bincount(block, np.abs(drop) * np.arange(T + 1), nblocks)[used] / weight[used]
    k = np.clip(np.rint(centre).astype(np.int64), 0, T)
    total = total[used]
    Sk = S1[steps][:, None] - S1[k][None, :] + eta[k][None, :]
    x = C * np.maximum(eta[k], 1e-6)[None, :] ** (-gamma) * np.maximum(Sk, 0.0)
    G = 1.0 - (1.0 + x) ** (-beta)
    return np.where(k[None, :] <= steps[:, None], total[None, :] * G, 0.0).sum(axis=1)
