"""The shared real curves as benchmark runs: what a forecast may see at a cutoff, and the truth.

Reads data/curves/<source>.csv and runs.csv (the repository's copy of ../shared/curves) the way
../shared/tools/score_forecasts.py does: a run counts when it has at least 6 validation points
and its last one lies within 1% of its planned end; that last point is the truth to forecast.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from scaling_callback.io import Curve, read_curves_csv

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CURVES_DIR = os.path.join(ROOT, "data", "curves")
SOURCES = ("multipower_law", "gemstones", "modded_nanogpt_track1", "modded_nanogpt_track2")
CUTOFFS = (0.2, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class BenchRun:
    run_id: str
    source: str
    path: str  # the CSV file the run is in
    curve: Curve
    final_step: int  # the last validation step (the planned end)
    final_loss: float

    def seen(self, cutoff: float):
        """(steps, losses) with step <= cutoff·final_step: what a forecast at that cutoff sees."""
        return self.curve.observed(cutoff * self.final_step)

    @property
    def lr(self):
        """The planned schedule as (steps, lr) knots, or None."""
        return self.curve.lr_knots()


def forecast_points(runs):
    """(run, cutoff, steps, losses) for every run and cutoff of CUTOFFS at which the forecast
    sees at least 3 validation points (the shared scorer's rule)."""
    for run in runs:
        for cut in CUTOFFS:
            steps, losses = run.seen(cut)
            if len(steps) >= 3:
                yield run, cut, steps, losses


def load_runs(sources: Sequence[str] = SOURCES, curves_dir: Optional[str] = None) -> List[BenchRun]:
    """Every usable run of the given sources, sorted by source then run id."""
    curves_dir = curves_dir or CURVES_DIR
    with open(os.path.join(curves_dir, "runs.csv"), newline="") as fh:
        planned = {r["run_id"]: float(r["planned_steps"]) for r in csv.DictReader(fh)}
    runs = []
    for source in sources:
        path = os.path.join(curves_dir, source + ".csv")
        for run_id, curve in sorted(read_curves_csv(path).items()):
            steps, losses = curve.observed()
            if run_id not in planned or len(steps) < 6 or abs(steps[-1] - planned[run_id]) > 0.01 * planned[run_id]:
                continue
            runs.append(BenchRun(run_id, source, path, curve, int(steps[-1]), float(losses[-1])))
    return runs


def shared_curves_available(curves_dir: Optional[str] = None) -> bool:
    return os.path.exists(os.path.join(curves_dir or CURVES_DIR, "runs.csv"))
