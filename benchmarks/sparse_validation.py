"""Does the forecast stay honest when a run validates rarely?

    python3 benchmarks/sparse_validation.py [--evals 12 25 50] [--loso]

The development curves are validated 50-500 times a run; a user's run may validate a dozen
times. Every development run (benchmarks/curve_runs.py) is thinned to N validations evenly spaced
in steps, the last at the planned end, and forecast from 20/40/60/80% of it as
benchmarks/forecast_accuracy.py does (a cutoff with fewer than 3 points is skipped, as the shared
scorer skips it). Per source and cutoff: median |forecast − final| / final in %, the signed bias
(median of (forecast − final) / final, %), the 80% interval's coverage `c`, and `n` forecasts /
the median number of points each saw. With --loso the priors are learnt without the source
being scored (benchmarks/learn_priors.py, about 3 minutes more). About 1 minute per N on two
cores in-sample.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from curve_runs import CUTOFFS, load_runs  # noqa: E402
from learn_priors import learn_priors  # noqa: E402
from scaling_callback.core.forecast import DEFAULT_PRIORS, forecast  # noqa: E402


def thinned(run, n_evals: int):
    """The run's (steps, losses) at (about) n_evals validations evenly spaced in steps, the last
    at the planned end: for each wanted step the first validation at or after it."""
    s, y = run.curve.observed(run.final_step)
    want = np.linspace(run.final_step / n_evals, run.final_step, n_evals)
    idx = np.unique(np.searchsorted(s, want).clip(0, len(s) - 1))
    return s[idx], y[idx]


def score(runs, n_evals: int, priors_for):
    """{(source, cutoff): [(signed relative error, covered, points seen)]}."""
    out = {}
    for run in runs:
        s, y = thinned(run, n_evals)
        for cut in CUTOFFS:
            seen = s <= cut * run.final_step
            if seen.sum() < 3:
                continue
            fc = forecast(s[seen], y[seen], lr=run.lr, target_step=run.final_step, priors=priors_for(run.source))
            guess = fc.loss if fc.ok else y[seen][-1]
            covered = bool(fc.ok and fc.low <= run.final_loss <= fc.high)
            out.setdefault((run.source, cut), []).append((guess / run.final_loss - 1, covered, int(seen.sum())))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", nargs="*", type=int, default=[12, 25, 50], help="validations a run")
    ap.add_argument("--loso", action="store_true", help="priors learnt without the source scored")
    args = ap.parse_args(argv)
    runs = load_runs()
    sources = sorted({r.source for r in runs})
    loso = {src: learn_priors([r for r in runs if r.source != src]) for src in sources} if args.loso else {}

    def priors_for(source):
        return loso.get(source, DEFAULT_PRIORS)

    method = "left one source out" if args.loso else "in-sample (DEFAULT_PRIORS)"
    for n_evals in args.evals:
        results = score(runs, n_evals, priors_for)
        print(f"\n{n_evals} validations a run, {method}: median |error| % | bias % | c: 80% coverage | "
              "n forecasts / median points seen")
        print("| source | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |")
        print("| --- |" + " --- |" * len(CUTOFFS))
        for src in sources:
            cells = []
            for cut in CUTOFFS:
                got = results.get((src, cut), [])
                if not got:
                    cells.append("n/a")
                    continue
                e = np.array([g[0] for g in got])
                cells.append(f"{100 * np.median(np.abs(e)):.2f} {100 * np.median(e):+.2f} "
                             f"c{np.mean([g[1] for g in got]):.2f} n{len(got)}/{int(np.median([g[2] for g in got]))}")
            print(f"| {src} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
