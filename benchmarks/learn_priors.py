"""Learn the forecaster's priors and interval scale from complete real curves; print them.

    python benchmarks/learn_priors.py [--exclude SOURCE ...]

1. Every complete curve is fitted with the forecaster's own law and near-flat priors, once per
   candidate shape of the drop kernel; the exponent α (of the best-fitting shape) and, for
   schedules that decay, each shape's full-anneal drop fraction b = B/(E + A) are read off.
   Priors: log α and each shape's b ~ Normal with the mean of the per-source means (every
   source weighs the same, however many runs it has) and a variance that adds the spread
   between sources to the mean spread within them (a new run may come from a new source).
   A shape's prior weight is the share of decaying curves it fits best, per source, averaged.
2. With those priors every run is forecast from 20/40/60/80% of its curve; interval_scale is
   the factor that makes the model's own 80% quantiles cover 80% of the realised final losses
   (again weighing every source the same).
The output is the DEFAULT_PRIORS literal pasted into scaling_callback/forecast.py.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from curve_runs import CUTOFFS, SOURCES, load_runs  # noqa: E402
from scaling_callback.forecast import DEFAULT_PRIORS, DropPrior, ForecastPriors, decay_fraction, forecast  # noqa: E402
from scaling_callback.laws import multi_power_drop, normalized_schedule  # noqa: E402

FLAT = 100.0  # prior sd that lets a complete curve speak for itself
MIN_DEPTH = 0.3  # a schedule whose rate falls by less than this tells little about b
# Candidate drop-kernel shapes (C, β, γ): Luo et al.'s power-law relaxation (β = 0.59,
# γ = 0.64, their fit) at four speeds, and an exponential relaxation in steps (β = 20, γ = 1;
# Tissue et al.'s S2 has time constant 1/(1 − λ) = 1000 steps) at four time constants τ, C = 1/(βτ).
CANDIDATE_SHAPES = tuple((C, 0.59, 0.64) for C in (0.01, 0.03, 0.11, 0.4)) + tuple(
    (1.0 / (20.0 * tau), 20.0, 1.0) for tau in (100.0, 300.0, 1000.0, 3000.0))


def schedule_depth(run) -> float:
    """How far the planned learning rate falls from its peak by the end, as a fraction."""
    knots = run.lr
    if knots is None:
        return 0.0
    lr = knots[1][np.isfinite(knots[1])]
    peak = lr.max() if len(lr) else 0.0
    return float(1.0 - lr[-1] / peak) if peak > 0 else 0.0


def fit_complete(run, priors: ForecastPriors):
    """The forecaster's law fitted to the whole curve: (Forecast, relative rms residual)."""
    steps, losses = run.curve.observed()
    fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
    if not fc.ok:
        return fc, np.inf
    mid, _, _ = fc.predict(steps)
    keep = steps >= priors.min_fraction * run.final_step
    return fc, float(np.sqrt(np.mean((losses[keep] / mid[keep] - 1.0) ** 2)))


def pooled_normal(values_by_source):
    """(mean, sd): mean of source means; sd² = variance of the means + mean within variance."""
    groups = [np.asarray(v, float) for v in values_by_source.values() if len(v)]
    means = np.array([g.mean() for g in groups])
    within = np.array([g.var() for g in groups])
    return float(means.mean()), float(np.sqrt(means.var() + within.mean()))


def run_schedule(run) -> np.ndarray:
    """The run's planned learning rate at every step 0..final_step, divided by its peak."""
    knots_steps, knots_lr = run.lr
    return normalized_schedule(np.interp(np.arange(run.final_step + 1, dtype=float), knots_steps, knots_lr))


def realised_drop(fc, run) -> float:
    """B·LD(T)/B / ((1 − η_T)·(E + A)) of a law fitted to the whole curve (x_T = 1 there)."""
    p = fc.params
    eta = run_schedule(run)
    drop = p["B"] * multi_power_drop(eta, [run.final_step], p["C"], p["beta"], p["gamma"])[0]
    return float(drop / ((1.0 - eta[-1]) * (p["E"] + p["A"])))


def pooled_line(points_by_source):
    """(a, b, sd) of y ≈ a + b·f by least squares, every source weighing the same; sd² = the
    variance of the per-source mean residuals + the mean within-source residual variance."""
    groups = [np.asarray(v, float) for v in points_by_source.values() if len(v)]
    f = np.concatenate([g[:, 0] for g in groups])
    y = np.concatenate([g[:, 1] for g in groups])
    w = np.concatenate([np.full(len(g), 1.0 / len(g)) for g in groups])
    X = np.stack([np.ones_like(f), f], axis=1)
    a, b = np.linalg.lstsq(X * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    resid = [g[:, 1] - a - b * g[:, 0] for g in groups]
    means = np.array([r.mean() for r in resid])
    within = np.array([r.var() for r in resid])
    return float(a), float(b), float(np.sqrt(means.var() + np.mean(means) ** 2 + within.mean()))


def learn_priors(runs, base: ForecastPriors = DEFAULT_PRIORS, shapes=CANDIDATE_SHAPES,
                 calibrate: bool = True) -> ForecastPriors:
    """Priors from complete curves: see the module docstring."""
    log_alpha, anneal = {}, {}
    votes = [dict() for _ in shapes]
    for run in runs:
        decays = schedule_depth(run) >= MIN_DEPTH
        fits = []
        for i, (C, beta, gamma) in enumerate(shapes if decays else shapes[:1]):
            flat = dataclasses.replace(base, log_alpha=(base.log_alpha[0], FLAT), anneal=(0.05, 0.0, FLAT),
                                       drops=(DropPrior(C, beta, gamma, 1.0),))
            fc, rms = fit_complete(run, flat)
            if fc.ok:
                fits.append((rms, i, fc))
        if not fits:
            continue
        rms, best, fc = min(fits, key=lambda f: f[0])
        log_alpha.setdefault(run.source, []).append(float(np.log(fc.params["alpha"])))
        if decays:
            anneal.setdefault(run.source, []).append((decay_fraction(run_schedule(run), run.final_step),
                                                      realised_drop(fc, run)))
            for i in range(len(shapes)):
                votes[i].setdefault(run.source, []).append(float(i == best))
    # a shape's weight: the share of decaying curves it describes best, every source weighing the
    # same, plus half a vote spread over all shapes so that none is ruled out by a few curves
    share = np.array([np.mean([np.mean(v) for v in votes[i].values()]) if votes[i] else 0.0
                      for i in range(len(shapes))])
    n_sources = max(len(votes[0]), 1)
    weight = (share * n_sources + 0.5 / len(shapes)) / (n_sources + 0.5)
    drops = tuple(DropPrior(C, beta, gamma, float(w)) for (C, beta, gamma), w in zip(shapes, weight))
    priors = dataclasses.replace(base, log_alpha=pooled_normal(log_alpha),
                                 anneal=pooled_line(anneal) if anneal else base.anneal, drops=drops)
    if calibrate:
        priors = dataclasses.replace(priors, interval_scale=interval_scale(runs, priors))
    return priors


def normalised_errors(runs, priors: ForecastPriors):
    """{source: [|truth − median| / (the model's own half-interval on that side)]}."""
    out = {}
    raw = dataclasses.replace(priors, interval_scale=1.0)
    for run in runs:
        for cut in CUTOFFS:
            steps, losses = run.seen(cut)
            if len(steps) < 3:
                continue
            fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=raw)
            if not fc.ok:
                continue
            side = fc.high - fc.loss if run.final_loss >= fc.loss else fc.loss - fc.low
            out.setdefault(run.source, []).append(abs(run.final_loss - fc.loss) / max(side, 1e-12))
    return out


def interval_scale(runs, priors: ForecastPriors, confidence: float = 0.8) -> float:
    """The factor k that makes k × (model half-interval) cover `confidence` of the cases."""
    errs = normalised_errors(runs, priors)
    weights = np.concatenate([np.full(len(v), 1.0 / len(v)) for v in errs.values()])
    z = np.concatenate([np.asarray(v) for v in errs.values()])
    order = np.argsort(z)
    cum = np.cumsum(weights[order]) / weights.sum()
    return float(z[order][np.searchsorted(cum, confidence)])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exclude", nargs="*", default=[], choices=SOURCES, help="sources left out")
    args = ap.parse_args(argv)
    runs = load_runs([s for s in SOURCES if s not in args.exclude])
    priors = learn_priors(runs)
    used = ", ".join(sorted({r.source for r in runs}))
    cmd = "python benchmarks/learn_priors.py" + (" --exclude " + " ".join(args.exclude) if args.exclude else "")
    print(f"# Learnt from ../shared/curves ({used}; {len(runs)} runs) by `{cmd}`.")
    print("DEFAULT_PRIORS = ForecastPriors(")
    print(f"    log_alpha=({priors.log_alpha[0]:.4f}, {priors.log_alpha[1]:.4f}),")
    print(f"    anneal=({priors.anneal[0]:.4f}, {priors.anneal[1]:.4f}, {priors.anneal[2]:.4f}),")
    print("    drops=(")
    for d in priors.drops:
        print(f"        DropPrior({d.C:.6g}, {d.beta:g}, {d.gamma:g}, {d.weight:.4f}),")
    print("    ),")
    print(f"    noise={priors.noise!r},")
    print(f"    interval_scale={priors.interval_scale:.3f},")
    print(f"    min_fraction={priors.min_fraction!r},")
    print(")")


if __name__ == "__main__":
    main()
