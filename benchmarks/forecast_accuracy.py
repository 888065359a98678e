"""How well `scaling_callback.forecast` predicts the final validation loss of real runs.

    python benchmarks/forecast_accuracy.py [--sources SOURCE ...] [--no-loso]

For every run of data/curves and cutoffs 20/40/60/80% of its planned steps, the forecaster
sees the validation losses up to the cutoff (and the planned learning rate of the whole run)
and predicts the loss at the planned end. Printed per source and cutoff: the median (90th
percentile) relative error |forecast − final| / final in %, for
  power     the saturating power law in steps (the baseline of ../shared/tools/score_forecasts.py)
  anneal    Tissue et al.'s annealing law fitted directly (the scorer's other baseline)
  project   forecast() with DEFAULT_PRIORS, learnt from all four sources (in-sample)
  loso      forecast() with priors learnt by benchmarks/learn_priors.py WITHOUT the source
            being scored (leave-one-source-out: the honest number for runs unlike these)
then the 80% interval coverage and width of both project variants, and the time per fit.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from curve_runs import CUTOFFS, SOURCES, forecast_points, load_runs  # noqa: E402
from learn_priors import learn_priors  # noqa: E402
from scaling_callback.core.robust import huber_fit  # noqa: E402
from scaling_callback.core.forecast import DEFAULT_PRIORS, forecast  # noqa: E402
from scaling_callback.core.laws import annealing_area, normalized_schedule  # noqa: E402


# --- the two baselines, as ../shared/tools/score_forecasts.py fits them (soft-L1, scale 0.01,
# on log residuals, from the same starts and bounds) --------------------------------------------

def baseline_power(steps, losses, run):
    """L = E + A·(s/T)^(−α) fitted to the points after 2% of the run; the last loss if < 4."""
    T = run.final_step
    keep = steps >= 0.02 * T
    s, y = steps[keep].astype(float), losses[keep]
    if len(s) < 4:
        return losses[-1]

    def law(p, x):
        return p[0] + p[1] * (x / T) ** (-p[2])

    fit = huber_fit(lambda p: np.log(law(p, s)) - np.log(y),
                    [[y.min() * 0.8, (y[0] - y.min()) * 0.1 + 1e-3, 0.5], [y.min() * 0.5, 0.5, 0.2],
                     [y.min() * 0.95, 0.1, 1.0]],
                    [0, 0, 0.01], [y.min(), 100, 3], delta=0.01, loss="soft_l1")
    return law(fit.params, T) if fit is not None else losses[-1]


def baseline_anneal(steps, losses, run):
    """Tissue et al. 2024 eq. 1, L = L0 + A·(S1/T)^(−α) − C·S2/T, fitted to the points after 2%."""
    knots = run.lr
    if knots is None:
        return baseline_power(steps, losses, run)
    T = run.final_step
    eta = normalized_schedule(np.interp(np.arange(T + 1, dtype=float), *knots))
    S1 = np.concatenate([[0.0], np.cumsum(eta)])
    S2 = np.concatenate([[0.0], annealing_area(eta)])
    keep = steps >= 0.02 * T
    s, y = steps[keep].astype(int), losses[keep]
    if len(s) < 5:
        return losses[-1]

    def law(p, i):
        return p[0] + p[1] * (S1[i] / T) ** (-p[2]) - p[3] * S2[i] / T

    fit = huber_fit(lambda p: np.log(np.maximum(law(p, s), 1e-6)) - np.log(y),
                    [[y.min() * 0.8, 0.1, 0.5, 0.01], [y.min() * 0.5, 0.5, 0.2, 0.1]],
                    [0, 0, 0.01, 0], [y.min(), 100, 3, 10], delta=0.01, loss="soft_l1")
    return law(fit.params, T) if fit is not None else losses[-1]


# --- scoring --------------------------------------------------------------------------------------

def score(runs, priors_for):
    """{(method, source, cutoff): [relative errors]}, {(variant, source): [(covered, width)]}, fit times."""
    errors, cover, seconds = {}, {}, []
    for run, cut, steps, losses in forecast_points(runs):
        truth = run.final_loss
        errors.setdefault(("power", run.source, cut), []).append(abs(baseline_power(steps, losses, run) / truth - 1))
        errors.setdefault(("anneal", run.source, cut), []).append(abs(baseline_anneal(steps, losses, run) / truth - 1))
        for variant, priors in priors_for(run.source).items():
            t0 = time.perf_counter()
            fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
            seconds.append(time.perf_counter() - t0)
            guess = fc.loss if fc.ok else losses[-1]
            errors.setdefault((variant, run.source, cut), []).append(abs(guess / truth - 1))
            if fc.ok:
                cover.setdefault((variant, run.source), []).append(
                    (fc.low <= truth <= fc.high, (fc.high - fc.low) / truth))
                cover.setdefault((variant, run.source, cut), []).append((fc.low <= truth <= fc.high, 0.0))
    return errors, cover, seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--no-loso", action="store_true", help="skip the leave-one-source-out priors (faster)")
    args = ap.parse_args(argv)
    runs = load_runs(args.sources)
    loso = {}
    if not args.no_loso:
        everything = load_runs()
        for source in args.sources:
            t0 = time.perf_counter()
            loso[source] = learn_priors([r for r in everything if r.source != source])
            print(f"# priors without {source}: log_alpha={tuple(round(v, 3) for v in loso[source].log_alpha)} "
                  f"anneal={tuple(round(v, 4) for v in loso[source].anneal)} "
                  f"interval=({loso[source].interval_scale}, {loso[source].interval_growth}, {loso[source].interval_power}, {loso[source].interval_reach}) "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)

    def priors_for(source):
        out = {"project": DEFAULT_PRIORS}
        if source in loso:
            out["loso"] = loso[source]
        return out

    errors, cover, seconds = score(runs, priors_for)
    methods = ["power", "anneal", "project"] + (["loso"] if loso else [])
    print(f"\n|forecast − final| / final, median (p90) in %, at cutoffs {', '.join(f'{c:.0%}' for c in CUTOFFS)}"
          f" of the planned steps; {len(runs)} runs")
    print("| source | method | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |")
    print("| --- | --- |" + " --- |" * len(CUTOFFS))
    for source in args.sources:
        for method in methods:
            cells = []
            for cut in CUTOFFS:
                e = np.asarray(errors.get((method, source, cut), []))
                cells.append(f"{100 * np.median(e):.2f} ({100 * np.percentile(e, 90):.2f})" if len(e) else "n/a")
            print(f"| {source} | {method} | " + " | ".join(cells) + " |")
    print("\n80% interval: coverage of the realised final loss (by cutoff) and median width in % of it")
    print("| source | variant | coverage | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " | width |")
    print("| --- | --- | --- |" + " --- |" * len(CUTOFFS) + " --- |")
    for source in args.sources:
        for variant in methods[2:]:
            got = cover.get((variant, source), [])
            if not got:
                continue
            by_cut = [np.mean([c for c, _ in cover.get((variant, source, cut), [(np.nan, 0)])]) for cut in CUTOFFS]
            print(f"| {source} | {variant} | {np.mean([c for c, _ in got]):.2f} | "
                  + " | ".join(f"{v:.2f}" for v in by_cut)
                  + f" | {100 * np.median([w for _, w in got]):.2f} |")
    s = np.asarray(seconds) * 1000
    print(f"\ntime per forecast() call: median {np.median(s):.1f} ms, p90 {np.percentile(s, 90):.1f} ms, "
          f"max {s.max():.1f} ms over {len(s)} calls")


if __name__ == "__main__":
    main()
