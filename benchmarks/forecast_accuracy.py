"""How well `scaling_callback.forecast` predicts the final validation loss of runs it has not seen.

    python3 benchmarks/forecast_accuracy.py [--sources SOURCE ...] [--no-loso] [--no-gate] [--all-runs]

For every development run (benchmarks/curve_runs.py: six sources, at most MAX_RUNS runs each,
thinned deterministically) and cutoffs 20/40/60/80% of its planned steps, the forecaster sees
the validation losses up to the cutoff (and the planned learning rate of the whole run) and
predicts the loss at the planned end. Per source and cutoff it prints the median and p90 of
|forecast − final| / final, the signed bias (median of (forecast − final) / final) and the 80%
interval's coverage, for
  power     the saturating power law in steps (the baseline of ../shared/tools/score_forecasts.py)
  in-sample forecast() with DEFAULT_PRIORS (learnt from every source, this one included)
  loso      forecast() with priors learnt by benchmarks/learn_priors.py WITHOUT the source
            being scored (leave-one-source-out: priors, kernel and interval all learnt with the
            source held out; the number that counts for runs unlike the development set)
Then the share of the forecasts (loso, or in-sample with --no-loso) made by the log-linear and
overfitting laws or not made at all, the coverage and bias of forecasts made before and after a
schedule's decay began, the gate replay (benchmarks/gate_replay.py) and the time
per forecast() call.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from curve_runs import CUTOFFS, MAX_RUNS, SOURCES, forecast_points, load_runs  # noqa: E402
from gate_replay import print_replay, replay_all  # noqa: E402
from learn_priors import learn_priors, run_schedule, start_priors  # noqa: E402
from scaling_callback.core.robust import huber_fit  # noqa: E402
from scaling_callback.core.forecast import DEFAULT_PRIORS, forecast  # noqa: E402
from scaling_callback.core.forecast.law import decay_fraction  # noqa: E402


def baseline_power(steps, losses, run):
    """L = E + A·(s/T)^(−α) fitted to the points after 2% of the run, as
    ../shared/tools/score_forecasts.py fits it (soft-L1, scale 0.01, on log residuals, from the
    same starts and bounds); the last loss with fewer than 4 points."""
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


def decay_seen(run, step) -> Optional[bool]:
    """Whether the planned decay had begun by `step` (the start `law.decay_fraction` finds: 2%
    below the peak); None when the schedule never decays before the planned end (or none is given)."""
    if run.lr is None:
        return None
    T = run.final_step
    f = decay_fraction(run_schedule(run), T)
    return None if f == 0.0 else bool(T * (1.0 - f) <= step)


def score(runs, priors_for):
    """{(method, source, cutoff): [(signed relative error, covered or None, interval width / final or
    None, decay seen at the cutoff: True, False or None without a decay)]}, fit times, and
    {(method, source, cutoff): [the law of each forecast]}."""
    out, seconds, laws = {}, [], {}
    for run, cut, steps, losses in forecast_points(runs):
        seen = decay_seen(run, steps[-1])
        truth = run.final_loss
        out.setdefault(("power", run.source, cut), []).append((baseline_power(steps, losses, run) / truth - 1, None, None,
                                                               seen))
        for method, priors in priors_for(run.source).items():
            t0 = time.perf_counter()
            fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
            seconds.append(time.perf_counter() - t0)
            guess = fc.loss if fc.ok else losses[-1]
            covered = bool(fc.low <= truth <= fc.high) if fc.ok else False  # no forecast: not covered
            width = (fc.high - fc.low) / truth if fc.ok else np.nan
            out.setdefault((method, run.source, cut), []).append((guess / truth - 1, covered, width, seen))
            laws.setdefault((method, run.source, cut), []).append(fc.law)
    return out, seconds, laws


def print_laws(laws, sources, method):
    """The share of forecasts made by each law other than the (multi-)power law, per cutoff."""
    print(f"\nlaw of the {method} forecasts: share log-linear / overfitting / no forecast, per cutoff")
    print("| source | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |")
    print("| --- |" + " --- |" * len(CUTOFFS))
    for source in sources:
        cells = []
        for cut in CUTOFFS:
            got = laws.get((method, source, cut), [])
            cells.append(" / ".join(f"{np.mean([law == name for law in got]):.2f}" if got else "n/a"
                                    for name in ("log-linear", "overfitting", "none")))
        print(f"| {source} | " + " | ".join(cells) + " |")


def print_decay_phase(results, sources, method):
    """Coverage and signed bias of `method`'s forecasts, split by whether the schedule's decay had
    begun by the cutoff (runs whose schedule decays before the planned end only)."""
    print(f"\n{method} forecasts of runs whose schedule decays, by whether the decay had begun at the cutoff: "
          "80% coverage c, signed bias %, forecasts n")
    print("| source | decay | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |")
    print("| --- | --- |" + " --- |" * len(CUTOFFS))
    for source in sources:
        for phase, name in ((False, "still to come"), (True, "begun")):
            cells = []
            for cut in CUTOFFS:
                got = [g for g in results.get((method, source, cut), []) if g[3] is phase]
                cells.append(f"c{np.mean([g[1] for g in got]):.2f} {100 * np.median([g[0] for g in got]):+.2f} "
                             f"n{len(got)}" if got else "n/a")
            print(f"| {source} | {name} | " + " | ".join(cells) + " |")


def print_tables(results, sources, methods):
    print("\n|forecast − final| / final in %: median (p90) | signed bias = median of (forecast − final)/final in %"
          " | c: 80% coverage | w: median interval width (high − low)/final in %")
    print("| source | method | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " | coverage |")
    print("| --- | --- |" + " --- |" * len(CUTOFFS) + " --- |")
    for source in sources:
        for method in methods:
            cells, covered = [], []
            for cut in CUTOFFS:
                got = results.get((method, source, cut), [])
                if not got:
                    cells.append("n/a")
                    continue
                e = np.array([g[0] for g in got])
                cell = f"{100 * np.median(np.abs(e)):.2f} ({100 * np.percentile(np.abs(e), 90):.2f}) {100 * np.median(e):+.2f}"
                cov = [g[1] for g in got if g[1] is not None]
                if cov:
                    cell += f" c{np.mean(cov):.2f} w{100 * np.nanmedian([g[2] for g in got]):.1f}"
                    covered += cov
                cells.append(cell)
            total = f"{np.mean(covered):.2f}" if covered else ""
            print(f"| {source} | {method} | " + " | ".join(cells) + f" | {total} |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--no-loso", action="store_true", help="skip the leave-one-source-out priors (faster)")
    ap.add_argument("--no-gate", action="store_true", help="skip the gate replay")
    ap.add_argument("--all-runs", action="store_true",
                    help=f"score every usable run of the sources (default: at most {MAX_RUNS} a source, evenly spaced)")
    ap.add_argument("--nats", action="store_true",
                    help="loso priors with the drop prior in nats (ForecastPriors.anneal_nats); in-sample stays DEFAULT_PRIORS")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    runs = load_runs(args.sources, max_runs=None if args.all_runs else MAX_RUNS)
    loso = {}
    if not args.no_loso:
        everything = load_runs()
        for source in args.sources:
            t0 = time.perf_counter()
            loso[source] = learn_priors([r for r in everything if r.source != source], start_priors(args.nats))
            p = loso[source]
            print(f"# priors without {source}: log_alpha={tuple(round(v, 3) for v in p.log_alpha)} "
                  f"anneal={tuple(round(v, 4) for v in p.anneal)} interval=(w_o {p.interval_own}, w_h "
                  f"{p.interval_hindcast}, w_s {p.interval_sensitivity}, w_a {p.interval_ahead}, z {p.interval_z}, "
                  f"before a decay {p.interval_z_before_decay}) [{time.perf_counter() - t0:.0f} s]",
                  flush=True)

    def priors_for(source):
        out = {"in-sample": DEFAULT_PRIORS}
        if source in loso:
            out["loso"] = loso[source]
        return out

    results, seconds, laws = score(runs, priors_for)
    methods = ["power", "in-sample"] + (["loso"] if loso else [])
    print(f"\n{len(runs)} runs: " + ", ".join(f"{s} {sum(r.source == s for r in runs)}" for s in args.sources))
    print_tables(results, args.sources, methods)
    print_laws(laws, args.sources, methods[-1])
    print_decay_phase(results, args.sources, methods[-1])
    s = np.asarray(seconds) * 1000
    print(f"\ntime per forecast() call: median {np.median(s):.1f} ms, p90 {np.percentile(s, 90):.1f} ms, "
          f"max {s.max():.1f} ms over {len(s)} calls")
    if not args.no_gate:
        print_replay(replay_all(runs))
    print(f"\n[{time.perf_counter() - t_start:.0f} s in all]")


if __name__ == "__main__":
    main()
