"""Does the forecast stay honest when a run validates rarely?

    python3 benchmarks/studies/sparse_validation.py [--evals 12 25 50] [--loso]

The development curves are validated 50-500 times a run; a user's run may validate a dozen
times. Every development run (scaling_callback.runs) is thinned to N validations evenly spaced
in steps, the last at the planned end, and scored as benchmarks/forecast_accuracy.py scores it
(its `score` and table: a cutoff with fewer than 3 points is skipped, as the shared scorer skips
it): per source and cutoff the median (p90) |forecast − final| / final in %, the signed bias, the
80% interval's coverage `c` and median width `w`, beside the power-law baseline; then the median
number of points each forecast saw. With --loso the priors are learnt without the source being
scored (scaling_callback.core.forecast.learning, about 3 minutes more). About 1 minute per N on two cores
in-sample.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

# benchmarks/, for forecast_accuracy's scoring and tables (this study scores as that benchmark does)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from forecast_accuracy import print_tables, score  # noqa: E402
from scaling_callback.core.forecast import DEFAULT_PRIORS  # noqa: E402
from scaling_callback.core.forecast.learning import learn_priors  # noqa: E402
from scaling_callback.runs import CUTOFFS, load_runs  # noqa: E402


def thinned(run, n_evals: int):
    """The run validated (about) n_evals times, evenly spaced in steps, the last at the planned
    end: for each wanted step the first validation at or after it keeps its loss, every other
    row's loss is blanked (the planned schedule, in every row, stays)."""
    curve = run.curve
    rows = np.nonzero(np.isfinite(curve.val_loss) & (curve.step <= run.final_step))[0]
    want = np.linspace(run.final_step / n_evals, run.final_step, n_evals)
    keep = rows[np.unique(np.searchsorted(curve.step[rows], want).clip(0, len(rows) - 1))]
    val_loss = np.full_like(curve.val_loss, np.nan)
    val_loss[keep] = curve.val_loss[keep]
    return dataclasses.replace(run, curve=dataclasses.replace(curve, val_loss=val_loss))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evals", nargs="*", type=int, default=[12, 25, 50], help="validations a run")
    ap.add_argument("--loso", action="store_true", help="priors learnt without the source scored")
    args = ap.parse_args(argv)
    runs = load_runs()
    sources = sorted({r.source for r in runs})
    method = "loso" if args.loso else "in-sample"
    priors = {src: learn_priors([r for r in runs if r.source != src]) for src in sources} if args.loso else {}

    def priors_for(source):
        return {method: priors.get(source, DEFAULT_PRIORS)}

    for n_evals in args.evals:
        sparse = [thinned(run, n_evals) for run in runs]
        print(f"\n## {n_evals} validations a run ({method})")
        print_tables(score(sparse, priors_for)[0], sources, ["power", method])
        print("\nmedian points seen per forecast: | source | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |")
        for src in sources:
            cells = []
            for cut in CUTOFFS:
                seen = [len(run.seen(cut)[0]) for run in sparse if run.source == src]
                seen = [n for n in seen if n >= 3]  # the forecasts scored
                cells.append(str(int(np.median(seen))) if seen else "n/a")
            print(f"| {src} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
