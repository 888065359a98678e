"""Curves as runs to forecast: what a forecast may see at a cutoff, and the truth.

Reads curve CSVs in the format of data/curves (`scaling_callback.io.read_curves_csv`) and the
planned steps of every run (a runs CSV with `run_id` and `planned_steps` columns, data/curves/
runs.csv) the way ../shared/tools/score_forecasts.py does: a run counts when it has at least
MIN_VALIDATIONS validation points and its last one lies within PLANNED_END_TOLERANCE of its
planned end; that last point is the truth to forecast. A source with more than `max_runs`
usable runs is thinned to `max_runs` evenly spaced in run-id order (deterministic), so that
the benchmarks stay minutes long on two cores.

The runs are what scaling_callback.core.forecast.learning learns the priors from
(`tools/learn_priors.py`) and what benchmarks/forecast_accuracy.py scores.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import numpy as np

from .core.forecast.family import PLANNED_END_TOLERANCE, FamilyRun, reached_planned_end
from .core.forecast.learning import CUTOFFS, forecast_points
from .io import Curve, read_curves_csv

__all__ = ["CurveRun", "load_runs", "forecast_points", "planned_steps", "thin_runs", "curves_available",
           "CUTOFFS", "SOURCES", "PUBLIC_SOURCES", "MAX_RUNS", "CURVES_DIR", "MIN_VALIDATIONS",
           "PLANNED_END_TOLERANCE"]

# The repository's copy of the development curves (data/curves beside the package).
CURVES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "curves")
SOURCES = ("multipower_law", "gemstones", "modded_nanogpt_track1", "modded_nanogpt_track2", "lr_scheduling",
           "cpu_gpt")
PUBLIC_SOURCES = SOURCES[:5]  # published by others; cpu_gpt is made by tools/make_cpu_curves.py
MAX_RUNS = 60  # lr_scheduling has 192 usable runs (many cool-down branches sharing their base's prefix), track 1 has 85
MIN_VALIDATIONS = 6  # the shared scorer's rule: fewer points make no curve to forecast
RUNS_CSV = "runs.csv"  # the planned steps of every run, in the curves folder


@dataclass(frozen=True)
class CurveRun:
    """One complete run: its curve, where the file put it, and the truth a forecast is scored on."""

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

    def family_run(self) -> FamilyRun:
        """This run as a run of a family (forecast(..., family=))."""
        steps, losses = self.curve.observed()
        return FamilyRun(self.run_id, tuple(steps), tuple(losses), self.final_step, self.lr)


def planned_steps(curves_dir: Optional[str] = None, runs_csv: Optional[str] = None) -> dict:
    """{run_id: planned steps} of the runs CSV (by default runs.csv in the curves folder)."""
    with open(runs_csv or os.path.join(curves_dir or CURVES_DIR, RUNS_CSV), newline="") as fh:
        return {r["run_id"]: float(r["planned_steps"]) for r in csv.DictReader(fh)}


def thin_runs(runs: list, max_runs: Optional[int]) -> list:
    """At most max_runs of `runs`, evenly spaced in their (sorted) order."""
    if max_runs is None or len(runs) <= max_runs:
        return runs
    return [runs[int(i)] for i in np.linspace(0, len(runs) - 1, max_runs).round()]


def source_path(source: str, curves_dir: Optional[str] = None) -> Optional[str]:
    """The curves CSV of `source`: a path to a .csv file as given, or <curves_dir>/<source>.csv;
    None when there is no such file."""
    path = source if source.endswith(".csv") else os.path.join(curves_dir or CURVES_DIR, source + ".csv")
    return path if os.path.exists(path) else None


def usable_runs(path: str, source: str, planned: dict) -> List[CurveRun]:
    """The runs of one curves CSV that reached their planned end, sorted by run id."""
    usable = []
    for run_id, curve in sorted(read_curves_csv(path).items()):
        steps, losses = curve.observed()
        if run_id not in planned or len(steps) < MIN_VALIDATIONS or not reached_planned_end(steps[-1], planned[run_id]):
            continue
        usable.append(CurveRun(run_id, source, path, curve, int(steps[-1]), float(losses[-1])))
    return usable


def load_runs(sources: Union[str, Sequence[str]] = SOURCES, curves_dir: Optional[str] = None,
              max_runs: Optional[int] = MAX_RUNS, runs_csv: Optional[str] = None) -> List[CurveRun]:
    """The usable runs of the given sources (at most max_runs each), in the order of `sources`,
    then by run id.

    sources: one source or several; a source is a name (its curves are <curves_dir>/<name>.csv)
        or the path of a curves CSV (its source is the file's name without .csv). A source with
        no file is skipped.
    curves_dir: the folder of the named sources and of runs.csv (default: the repository's data/curves).
    runs_csv: the planned steps of the runs (default: <curves_dir>/runs.csv).
    """
    if isinstance(sources, str):
        sources = [sources]
    planned = planned_steps(curves_dir, runs_csv)
    runs = []
    for source in sources:
        path = source_path(source, curves_dir)
        if path is not None:
            name = os.path.basename(source)[:-len(".csv")] if source.endswith(".csv") else source
            runs += thin_runs(usable_runs(path, name, planned), max_runs)
    return runs


def curves_available(curves_dir: Optional[str] = None) -> bool:
    """Whether the curves folder has its runs.csv."""
    return os.path.exists(os.path.join(curves_dir or CURVES_DIR, RUNS_CSV))
