"""The ladder before it finishes (issue 28): fit the scaling law on forecasts of runs cut at
20/40/60/80% of their planned length and compare it with the law fitted on the finished runs.

    python3 benchmarks/ladder_early.py [--cutoffs 0.2 0.4 0.6 0.8] [--bootstrap 200]
    python3 benchmarks/ladder_early.py --plot docs/img/ladder_early.png [--plot-ladder NAME] [--plot-cut 0.4]

A ladder is several model sizes on one recipe (data/curves/runs.csv: numeric params, tokens per
step, one schedule family). The largest-compute run of each is held out (the "big run"); the
rest are fitted at each cut-off (each run its forecast at its planned end, `ladder.ladder_from_curves`)
and finished. Columns: the held-out run's predicted final loss against the truth, N_opt at a
budget 10x the ladder's largest against the finished ladder's, whether the 95% intervals cover
the truth and the finished N_opt, alpha and beta, and whether the ladder says it has decided.
Sources that are not ladders are named with why.
"""
from __future__ import annotations

import argparse
import os
import re
import time

import numpy as np

from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law
from scaling_callback.core.crossrun.decision import ladder_decision
from scaling_callback.ladder import ladder_from_curves
from scaling_callback.runs import CURVES_DIR

RUNS_CSV = os.path.join(CURVES_DIR, "runs.csv")
# (name, curves file, run ids of one recipe): lr_scheduling's "_sl" ladders are its scaling-law
# runs, WSD with a 20% linear cool-down, several sizes each at 2-3 lengths (runs.csv's schedule column)
LADDERS = (
    ("lr_scheduling owt2", "lr_scheduling.csv", r"fsp_owt\d+m_wsd0\.2l_lr[0-9.]+_T\d+_sl"),
    ("lr_scheduling slimpajama", "lr_scheduling.csv", r"fsp_sp\d+m_wsd0\.2l_lr[0-9.]+_T\d+_sl"),
)
NOT_LADDERS = (
    ("gemstones", "every run has the same planned length (83,475 steps): D is not varied at the planned ends"),
    ("multipower_law", "no tokens per step, and 3 sizes x 2 lengths a recipe: 5 points for 5 parameters "
                       "once the largest is held out"),
)
BUDGET_FACTOR = 10.0  # issue 28: N_opt at a budget 10x the ladder's largest run


def ladder_ids(curves, pattern):
    import csv

    with open(RUNS_CSV, newline="") as fh:
        return {r["run_id"] for r in csv.DictReader(fh) if re.fullmatch(pattern, r["run_id"])}


def fit_of(points, bootstrap, forecasts):
    return fit_scaling_law(points.N, points.D, points.loss, n_bootstrap=bootstrap, seed=0,
                           loss_low=points.low if forecasts else None, loss_high=points.high if forecasts else None)


def compare(name, curves, pattern, cutoffs, bootstrap):
    """Rows of the table for one ladder."""
    path = os.path.join(CURVES_DIR, curves)
    ids = ladder_ids(curves, pattern)
    full = ladder_from_curves(path, RUNS_CSV, only=ids)
    big = int(np.argmax(full.N * full.D))
    keep = np.arange(len(full.N)) != big
    budget = BUDGET_FACTOR * 6.0 * float(np.max(full.N * full.D))
    try:
        final = fit_of(full.pick(keep), bootstrap, False)
    except (ScalingLawError, np.linalg.LinAlgError) as exc:  # LinAlgError: robust.huber_newton, reported
        return [(name, 1.0, int(keep.sum()), f"no fit of the finished runs: {type(exc).__name__}: {exc}")]
    n_final = final.compute_optimal(budget).N.value
    truth = float(full.truth[big])
    rows = []
    for cut in cutoffs:
        points = ladder_from_curves(path, RUNS_CSV, upto_fraction=cut, only=ids).pick(keep)
        try:
            fit = fit_of(points, bootstrap, True)
        except (ScalingLawError, np.linalg.LinAlgError) as exc:
            rows.append((name, cut, len(points.N), f"no fit: {type(exc).__name__}: {exc}"))
            continue
        pred = fit.expected_loss(float(full.N[big]), float(full.D[big]))
        decision = ladder_decision(fit, budget)
        n_opt = decision.allocation.N
        rows.append((name, cut, len(points.N), truth, pred, n_opt, n_final, fit.law, final.law, decision.decided))
    return rows


def plot_one(name, cut, bootstrap, path):
    """Draw one ladder cut at `cut` against the same ladder finished (plots.plot_ladder): the
    largest-compute run held out, N_opt at 10x the ladder's largest compute."""
    from scaling_callback.plots import plot_ladder

    (curves, pattern), = [(c, p) for n, c, p in LADDERS if n == name]
    path_csv, ids = os.path.join(CURVES_DIR, curves), ladder_ids(curves, pattern)
    full = ladder_from_curves(path_csv, RUNS_CSV, only=ids)
    big = int(np.argmax(full.N * full.D))
    keep = np.arange(len(full.N)) != big
    points = ladder_from_curves(path_csv, RUNS_CSV, upto_fraction=cut, only=ids).pick(keep)
    fit, final = fit_of(points, bootstrap, True), fit_of(full.pick(keep), bootstrap, False)
    N, D = float(full.N[big]), float(full.D[big])
    plot_ladder(fit, points, path, final_fit=final, budget=BUDGET_FACTOR * 6.0 * float(np.max(full.N * full.D)),
                holdout=([N], [D], [float(full.truth[big])], [fit.expected_loss(N, D)]),
                title=f"{name} ladder, every run cut at {cut:.0%} of its planned length, against the same runs "
                      f"finished ({bootstrap} bootstrap resamples, 95% intervals)")
    print(f"saved figure: {path}")


def row_text(r):
    if len(r) == 4:
        return f"| {r[0]} | {r[1]:.0%} | {r[2]} | {r[3]} |"
    name, cut, n, truth, pred, n_opt, n_final, law, final_law, decided = r
    err = 100 * (pred.value - truth) / truth
    covers = pred.low <= truth <= pred.high
    n_covers = n_opt.low <= n_final <= n_opt.high
    return (f"| {name} | {cut:.0%} | {n} | {truth:.4f} | {pred.value:.4f} [{pred.low:.4f}, {pred.high:.4f}] | "
            f"{err:+.2f}% | {'yes' if covers else 'no'} | {n_opt.value / n_final:.2f}x | "
            f"[{n_opt.low / n_final:.2f}, {n_opt.high / n_final:.2f}]x | {'yes' if n_covers else 'no'} | "
            f"{law.alpha:.3f} / {final_law.alpha:.3f} | {law.beta:.3f} / {final_law.beta:.3f} | "
            f"{'yes' if decided else 'no'} |")


def summary(rows, cut):
    done = [r for r in rows if len(r) > 4 and abs(r[1] - cut) < 1e-9]
    if not done:
        return f"at {cut:.0%}: no fit"
    errors = [abs(r[4].value - r[3]) / r[3] for r in done]
    ratios = [r[5].value / r[6] for r in done]
    cover = sum(r[4].low <= r[3] <= r[4].high for r in done) + sum(r[5].low <= r[6] <= r[5].high for r in done)
    return (f"at {cut:.0%}: median |error| of the held-out run {100 * np.median(errors):.2f}%, N_opt within "
            f"{max(max(x, 1 / x) for x in ratios):.2f}x of the finished ladder's (worst ladder), intervals cover "
            f"{cover} of {2 * len(done)} (loss and N_opt)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cutoffs", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8])
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--ladders", nargs="+", help="names of LADDERS to run (default: all)")
    ap.add_argument("--plot", metavar="FILE", help="draw one ladder cut at --plot-cut against it finished, and stop")
    ap.add_argument("--plot-ladder", default="lr_scheduling slimpajama", choices=[n for n, _, _ in LADDERS])
    ap.add_argument("--plot-cut", type=float, default=0.4)
    args = ap.parse_args(argv)
    if args.plot:
        return plot_one(args.plot_ladder, args.plot_cut, args.bootstrap, args.plot)
    start = time.perf_counter()
    rows = []
    for name, curves, pattern in LADDERS:
        if args.ladders is None or name in args.ladders:
            rows += compare(name, curves, pattern, args.cutoffs, args.bootstrap)
    print("| ladder | cut at | runs fitted | held-out final loss | predicted (95%) | error | covered | "
          "N_opt / finished | its 95% interval | covered | alpha (cut / finished) | beta (cut / finished) | decided |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(row_text(r))
    print()
    for cut in args.cutoffs:
        print(summary(rows, cut))
    for name, why in NOT_LADDERS:
        print(f"not a ladder here: {name}: {why}")
    print(f"({args.bootstrap} bootstrap resamples; {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
