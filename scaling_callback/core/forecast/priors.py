"""What a partial curve cannot tell, learnt from complete curves: the forecaster's priors
(tools/learn_priors.py learns them; DEFAULT_PRIORS is its output)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class DropPrior:
    """One shape of the multi-power loss-drop kernel, with its prior weight among the shapes.

    C, beta, gamma: the kernel G(x) = 1 − (C·x + 1)^(−β), x = η_k^(−γ)·S_k(t), of
        schedules.multi_power_drop (C per step at the peak rate). A large β with C·β fixed makes the
        relaxation exponential in steps, as in Tissue et al.'s annealing area S2.
    weight: prior probability of this shape among the others.
    power: p of the drop's dependence on the rate: each decrease buys a drop ∝ the decrease of
        η^p (1: Luo et al.'s law, linear in η; < 1: more of the drop comes as η → 0).
    """

    C: float
    beta: float
    gamma: float
    weight: float
    power: float = 1.0


@dataclass(frozen=True)
class ForecastPriors:
    """What a partial curve cannot tell, learnt from complete curves (tools/learn_priors.py).

    log_alpha: (mean, sd) of log α, the exponent of the power law in learning-rate area.
    anneal: (a, b, sd): the loss drop the schedule's decay realises by the target, per unit
        of decay depth (1 − η_target), as a fraction of the loss without the decay,
        B·LD(T)/B / ((1 − η_T)·(E + A·x_T^(−α))) (or in nats, B·LD(T)/B / (1 − η_T), with
        `anneal_nats`), is ~ N(a + b·f, sd²) where f is the fraction of the run from the start of
        the decay to the target (longer decays realise more). A partial curve cannot tell it
        before the decay starts; once the decay is seen the data take over.
    anneal_nats: the drop prior in the loss's own units (nats of a cross-entropy) instead of as a
        fraction of the loss. The loss carries the data's entropy, which no decay removes; left
        one source out the nats transfer better between sources (benchmarks/studies/cooldown_drop.py,
        table 2), but lr_scheduling's forecasts get worse (docs/forecast.md). A loss in other
        units (bits, a scaled loss) needs `anneal` scaled alike.
    drops: the candidate drop-kernel shapes and their prior weights.
    noise: a typical relative noise of a validation loss, the prior guess for the residual scale.
    interval_own: w_o, the weight of the fit's own relative spread (sd) in the interval's scale.
    interval_hindcast, interval_sensitivity, interval_ahead: weights w_h, w_s, w_a of the three
        ways a forecast is known to go wrong beyond what its own fit knows (`misspecification`):
        the law's error on the run's own past (g_h: the hindcast, carried to the target), how
        much the forecast owes to the exponent prior (g_s) and a large improvement still to
        come (g_a).
    interval_z: (z_lo, z_hi): the forecast's standardised error z (`interval.standardised_error`:
        (final − m)/(m·S) once the noise of one validation loss is taken out) on development runs
        is above z_lo and below z_hi in at least 90% of the forecasts of EVERY development source
        (a conformal calibration, taken at the worst source: `calibrated`);
        S = √((w_o·own)² + D²), D = √((w_h·g_h)² + (w_s·g_s)² + (w_a·g_a)²). Learnt by
        tools/learn_priors.py.
    interval_z_before_decay: (z_lo, z_hi) for forecasts across a decay the run has not begun
        (`interval.interval_z`): the drop it brings is the prior's alone, and how far the
        sources' drops differ is known only from such forecasts, so they are calibrated on
        their own, never narrower than interval_z (tools/learn_priors.py). None: interval_z.
    min_fraction: points earlier than this fraction of the target step are left out of the fit
        (the first few percent of a run are warm-up transients, not the power law).
    window: κ ≥ 0; points before t_c·(t_c/T)^κ are left out too (t_c the last observed step, T
        the target): to extrapolate by a factor T/t_c, fit the last factor (T/t_c)^κ of the curve
        (κ = 1: as far back as ahead, in log steps). The recent curve tells its continuation
        best: a loss curve's local exponent drifts.
    """

    log_alpha: Tuple[float, float]
    anneal: Tuple[float, float, float]
    drops: Tuple[DropPrior, ...]
    noise: float
    interval_own: float
    interval_hindcast: float
    interval_sensitivity: float
    interval_ahead: float
    interval_z: Tuple[float, float]
    min_fraction: float
    window: float
    anneal_nats: bool = False
    interval_z_before_decay: Optional[Tuple[float, float]] = None


# Learnt from data/curves (cpu_gpt, gemstones, lr_scheduling, modded_nanogpt_track1, modded_nanogpt_track2, multipower_law; 242 runs) by `python3 tools/learn_priors.py`.
DEFAULT_PRIORS = ForecastPriors(
    log_alpha=(-0.3000, 0.2000),
    anneal=(0.0367, 0.0592, 0.0513),
    drops=(
        DropPrior(0.11, 0.59, 0.64, 1.0000),
    ),
    noise=0.00161,
    interval_own=0.25,
    interval_hindcast=1.0,
    interval_sensitivity=1.0,
    interval_ahead=0.2,
    interval_z=(-1.9547, 0.9885),
    interval_z_before_decay=None,
    min_fraction=0.02,
    window=1.0,
)
