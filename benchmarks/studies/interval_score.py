"""Study: which interval weights and calibration give the sharpest interval that still holds,
left one source out (learning.INTERVAL_WEIGHTS, learning.SPLIT_BEFORE_DECAY).

    python3 benchmarks/studies/interval_score.py        # about 3 minutes on two cores

For every source, every development run is forecast from 20/40/60/80% of its curve under the
priors learnt without that source (recorded by benchmarks/forecast_accuracy.py in
docs/data/forecast_accuracy.json: the fitting parts of those priors do not depend on the
interval). For each candidate (w_o, w_h, w_s, w_a), with and without the separate calibration
of forecasts across a decay not yet begun, the interval is calibrated on the other sources'
forecasts exactly as tools/learn_priors.py does (`calibrate`, `calibrate_before_decay`) and
scored on the held-out source: its coverage, median width and mean interval score
(Gneiting & Raftery 2007, sec. 6.2: width + (2/α)·miss, α = 0.2, in % of the final).
Chosen: among the candidates whose coverage is at least COVERAGE_FLOOR on every source and
CUTOFF_FLOOR at every cutoff of every source, and whose mean interval score (over sources, of
the mean over cutoffs) is within SCORE_TIE of the lowest, the one that covers its worst source
most (then the lower score).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from forecast_accuracy import priors_from  # noqa: E402
from scaling_callback.core.forecast.interval import RawBand, calibrated  # noqa: E402
from scaling_callback.core.forecast.learning import (CUTOFFS, INTERVAL_WEIGHTS, SPLIT_BEFORE_DECAY,  # noqa: E402
                                                     IntervalCases, calibrate, calibrate_before_decay,
                                                     interval_cases)
from scaling_callback.runs import SOURCES, load_runs  # noqa: E402

COVERAGE_FLOOR = 0.75  # the target: every source's 80% interval holds at least this often
CUTOFF_FLOOR = 0.70  # and no cutoff of a source below this
# Interval scores this close (relative) are a tie: one source's few runs move the mean by as much
SCORE_TIE = 0.05
GRID = {"w_o": (0.0, 0.25, 0.5), "w_h": (0.25, 0.5, 1.0), "w_s": (0.0, 0.5, 1.0), "w_a": (0.02, 0.05, 0.1, 0.2)}
PREVIOUS = ((0.0, 1.0, 1.0, 0.1), True)  # chosen on coverage alone by benchmarks/studies/interval_weights.py
RECORD = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "data", "forecast_accuracy.json")


def subset(cases: IntervalCases, keep) -> IntervalCases:
    raw = RawBand(**{f.name: getattr(cases.raw, f.name)[keep] for f in dataclasses.fields(RawBand)})
    return IntervalCases(raw, cases.truth[keep], cases.source[keep], cases.cutoff[keep])


def held_out_scores(cases, priors, source, weights, split):
    """{cutoff: (median |error|, median width, coverage, mean interval score)}, in % of the final."""
    train, test = subset(cases, cases.source != source), subset(cases, cases.source == source)
    wo, wh, ws, wa = weights
    p = dataclasses.replace(priors, interval_own=wo, interval_hindcast=wh, interval_sensitivity=ws, interval_ahead=wa,
                            interval_z=calibrate(train, *weights),
                            interval_z_before_decay=calibrate_before_decay(train, *weights) if split else None)
    mid, low, high = calibrated(test.raw, p, 0.8)
    y = test.truth
    out = {}
    for cut in CUTOFFS:
        k = test.cutoff == cut
        width = (high[k] - low[k]) / y[k]
        miss = (np.maximum(low[k] - y[k], 0) + np.maximum(y[k] - high[k], 0)) / y[k]
        out[cut] = (100 * np.median(np.abs(mid[k] / y[k] - 1)), 100 * np.median(width),
                    float(np.mean((low[k] <= y[k]) & (y[k] <= high[k]))), 100 * np.mean(width + 10 * miss))
    return out


def main():
    with open(RECORD) as fh:
        loso = {src: priors_from(p) for src, p in json.load(fh)["loso_priors"].items()}
    runs = load_runs()
    cases = {src: interval_cases(runs, loso[src]) for src in SOURCES}
    rows = []
    for weights in itertools.product(*GRID.values()):
        for split in (False, True):
            per = {src: held_out_scores(cases[src], loso[src], src, weights, split) for src in SOURCES}
            cover = min(np.mean([v[2] for v in r.values()]) for r in per.values())
            cut_cover = min(v[2] for r in per.values() for v in r.values())
            score = float(np.mean([np.mean([v[3] for v in r.values()]) for r in per.values()]))
            rows.append((score, cover, cut_cover, weights, split, per))
    feasible = sorted(r for r in rows if r[1] >= COVERAGE_FLOOR and r[2] >= CUTOFF_FLOOR)
    print("| weights (w_o, w_h, w_s, w_a) | split before a decay | mean interval score % | lowest coverage of a source"
          " | lowest of a cutoff |\n| --- | --- | --- | --- | --- |")
    used = (tuple(INTERVAL_WEIGHTS), SPLIT_BEFORE_DECAY)
    shown = feasible[:10] + [r for r in rows if (r[3], r[4]) in (used, PREVIOUS) and r not in feasible[:10]]
    for r in shown:
        mark = " (used)" if (r[3], r[4]) == used else " (the previous choice)" if (r[3], r[4]) == PREVIOUS else ""
        print(f"| {r[3]}{mark} | {r[4]} | {r[0]:.2f} | {r[1]:.2f} | {r[2]:.2f} |")
    tied = [r for r in feasible if r[0] <= (1 + SCORE_TIE) * feasible[0][0]] if feasible else [min(rows)]
    best = max(tied, key=lambda r: (r[1], -r[0]))
    print(f"\nchosen: weights {best[3]}, split {best[4]}; per source (cutoff: |error| / width / coverage / score):")
    for src, r in best[5].items():
        print(f"  {src}: " + "  ".join(f"{c:.0%}: {e:.2f}/{w:.1f}/{cv:.2f}/{s:.1f}" for c, (e, w, cv, s) in r.items()))


if __name__ == "__main__":
    main()
