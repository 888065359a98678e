"""The development curves as benchmark runs: what a forecast may see at a cutoff, and the truth.

Reads data/curves/<source>.csv and runs.csv (the public curves and the project's own cpu_gpt) the way
../shared/tools/score_forecasts.py does: a run counts when it has at least 6 validation points
and its last one lies within 1% of its planned end; that last point is the truth to forecast.
A source with more than MAX_RUNS usable runs is thinned to MAX_RUNS evenly spaced in run-id
order (deterministic), so that the benchmarks stay minutes long on two cores.
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
SOURCES = ("multipower_law", "gemstones", "modded_nanogpt_track1", "modded_nanogpt_track2", "lr_scheduling",
           "cpu_gpt")
PUBLIC_SOURCES = SOURCES[:5]  # published by others; cpu_gpt is made by benchmarks/make_cpu_curves.py
MAX_RUNS = 60  # lr_scheduling has 192 usable runs (many cool-down branches sharing their base's prefix), track 1 has 85
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


def _find(name: str, curves_dir: Optional[str]) -> Optional[str]:
    path = os.path.join(curves_dir or CURVES_DIR, name)
    return path if os.path.exists(path) else None


def planned_steps(curves_dir: Optional[str] = None) -> dict:
    """{run_id: planned steps} of runs.csv."""
    with open(os.path.join(curves_dir or CURVES_DIR, "runs.csv"), newline="") as fh:
        return {r["run_id"]: float(r["planned_steps"]) for r in csv.DictReader(fh)}


def thin_runs(runs: list, max_runs: Optional[int]) -> list:
    """At most max_runs of `runs`, evenly spaced in their (sorted) order."""
    if max_runs is None or len(runs) <= max_runs:
        return runs
    return [runs[int(i)] for i in np.linspace(0, len(runs) - 1, max_runs).round()]


def load_runs(sources: Sequence[str] = SOURCES, curves_dir: Optional[str] = None,
              max_runs: Optional[int] = MAX_RUNS) -> List[BenchRun]:
    """The usable runs of the given sources (at most max_runs each), sorted by source then run id."""
    planned = planned_steps(curves_dir)
    runs = []
    for source in sources:
        path = _find(source + ".csv", curves_dir)
        if path is None:
            continue
        usable = []
        for run_id, curve in sorted(read_curves_csv(path).items()):
            steps, losses = curve.observed()
            if run_id not in planned or len(steps) < 6 or abs(steps[-1] - planned[run_id]) > 0.01 * planned[run_id]:
                continue
            usable.append(BenchRun(run_id, source, path, curve, int(steps[-1]), float(losses[-1])))
        runs += thin_runs(usable, max_runs)
    return runs


def shared_curves_available(curves_dir: Optional[str] = None) -> bool:
    return _find("runs.csv", curves_dir) is not None
