"""False alarms of observed_overfitting on real single-epoch training curves (data/curves).

    python3 benchmarks/studies/overfitting_false_alarms.py [--k-sigma 3] [--window 5]

None of these runs repeats data, so a flag means the validation loss really rose above its
best by more than its noise (a loss spike or instability) and, with no train loss in these
files, the rule decides on the validation curve alone. Every prefix of every run with at least
window + 3 points is checked, as the callback would at each validation.
"""
import argparse
import csv
import os
from collections import defaultdict

import numpy as np

from scaling_callback.core.overfitting import observed_overfitting

CURVES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "curves")
FILES = ["multipower_law.csv", "gemstones.csv", "modded_nanogpt_track1.csv", "modded_nanogpt_track2.csv"]


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--k-sigma", type=float, default=3.0)
    ap.add_argument("--window", type=int, default=5)
    args = ap.parse_args()
    print(f"k_sigma={args.k_sigma:g}, window={args.window}, min_rise=1e-3 (defaults of observed_overfitting)")
    print("| file | runs | checks | flagged checks | runs ever flagged |")
    print("| --- | --- | --- | --- | --- |")
    flagged_runs = []
    for name in FILES:
        runs = defaultdict(list)
        with open(os.path.join(CURVES, name)) as f:
            for row in csv.DictReader(f):
                if row["val_loss"]:
                    runs[row["run_id"]].append((int(row["step"]), float(row["val_loss"])))
        checks = flags = 0
        ever = set()
        for run, points in runs.items():
            s, v = np.array(sorted(points)).T
            for n in range(args.window + 3, s.size + 1):
                checks += 1
                result = observed_overfitting(s[:n], v[:n], k_sigma=args.k_sigma, window=args.window)
                if result.overfitting:
                    flags += 1
                    if run not in ever:
                        flagged_runs.append((run, int(s[n - 1]), result.message))
                    ever.add(run)
        print(f"| {name} | {len(runs)} | {checks} | {flags} ({100 * flags / checks:.2f}%) | {len(ever)} |")
    for run, step, message in flagged_runs:
        print(f"\n{run}, first flagged at step {step}: {message}")


if __name__ == "__main__":
    main()
