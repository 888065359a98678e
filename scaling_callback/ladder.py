"""A scaling ladder read before it finishes: one (N, D, loss) point per run, where a run still
training is its forecast at its planned end (D = its planned tokens) with the forecast's
interval, and a finished run is its final loss (issue 28).

From a curves CSV (the format of data/curves) and a runs CSV (data/curves/runs.csv: run_id,
planned_steps, tokens_per_step, params), optionally cut at a fraction of each run's planned
length to replay a ladder; or from TensorBoard log dirs written by the callback, whose saved
schedule file gives the planned end and learning rate (`io.read_schedule_file`).
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .core import tags
from .core.crossrun import ScalingLawError
from .core.crossrun.uncertain import FORECAST_CONFIDENCE
from .core.forecast import forecast
from .io import path_list, read_curves_csv, read_run_points, read_scalars, read_schedule_file, run_dirs
from .runs import PLANNED_END_TOLERANCE

__all__ = ["LadderPoints", "ladder_from_curves", "read_ladder", "parse_params"]

# "25M", "1.5B", "350k": the multipliers of the size suffixes runs.csv uses
SIZE_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}


@dataclass(frozen=True)
class LadderPoints:
    """One point per run: low/high are its forecast's interval (NaN for a finished run), truth
    its final loss where the run finished (NaN otherwise)."""

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    low: np.ndarray
    high: np.ndarray
    names: Tuple[str, ...]
    truth: np.ndarray
    notes: Tuple[str, ...] = ()

    @property
    def n_forecast(self) -> int:
        return int(np.sum(np.isfinite(self.low)))

    def pick(self, keep) -> "LadderPoints":
        keep = np.asarray(keep, bool)
        return LadderPoints(self.N[keep], self.D[keep], self.loss[keep], self.low[keep], self.high[keep],
                            tuple(n for n, k in zip(self.names, keep) if k), self.truth[keep], self.notes)


def parse_params(text: str) -> Optional[float]:
    """A runs.csv `params` cell as a number ("123587328", "25M"), None when it is not one."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbt]?)\s*", str(text), re.IGNORECASE)
    return None if m is None else float(m.group(1)) * SIZE_SUFFIX[m.group(2).lower()]


def finished(steps, planned) -> bool:
    """Whether a run's last validation is at its planned end (within runs.PLANNED_END_TOLERANCE)."""
    return bool(len(steps)) and steps[-1] >= planned * (1.0 - PLANNED_END_TOLERANCE)


def forecast_row(name, N, steps, losses, planned, tokens_per_step, lr, confidence, truth=np.nan):
    """(N, D, loss, low, high, name, truth): the run's final loss when it reached its planned end,
    else its forecast there; ScalingLawError naming the run when there is none."""
    D = planned * tokens_per_step
    if finished(steps, planned):
        return N, D, float(losses[-1]), np.nan, np.nan, name, float(losses[-1])
    f = forecast(steps, losses, target_step=int(planned), lr=lr, confidence=confidence)
    if not f.ok:
        raise ScalingLawError(f"{name}: no forecast at its planned end, step {int(planned)}: {f.reason}")
    return N, D, f.loss, f.low, f.high, name, truth


def _runs_table(runs_csv: str) -> dict:
    """{run_id: (N or None, planned steps, tokens per step or NaN)} of a runs CSV."""
    try:
        with open(runs_csv, newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ScalingLawError(f"{runs_csv}: not a readable runs CSV ({exc})") from None
    if not rows or not {"run_id", "planned_steps", "params"} <= set(rows[0]):
        raise ScalingLawError(f"{runs_csv}: needs columns run_id, planned_steps, params (and tokens_per_step)")
    out = {}
    for r in rows:
        try:
            planned = float(r["planned_steps"])
            tps = float(r.get("tokens_per_step") or "nan")
        except ValueError:
            raise ScalingLawError(f"{runs_csv}: run {r['run_id']}: planned_steps and tokens_per_step must be numbers") from None
        out[r["run_id"]] = (parse_params(r["params"]), planned, tps)
    return out


def ladder_from_curves(curves_csv: str, runs_csv: str, upto_fraction: Optional[float] = None,
                       confidence: float = FORECAST_CONFIDENCE, only=None) -> LadderPoints:
    """The ladder of the runs of `curves_csv` listed in `runs_csv` (and in `only`, when given),
    each cut at `upto_fraction` of its planned steps when given. A run without a numeric size, or without tokens per step
    (runs.csv's column, else the curve's tokens column), is left out and named in `notes`."""
    table = _runs_table(runs_csv)
    try:
        curves = read_curves_csv(curves_csv)
    except (OSError, ValueError) as exc:
        raise ScalingLawError(f"{curves_csv}: {exc}") from None
    rows, notes = [], []
    for run_id, curve in sorted(curves.items()):
        if only is not None and run_id not in only:
            continue
        if run_id not in table:
            notes.append(f"{run_id}: not in {runs_csv}")
            continue
        N, planned, tps = table[run_id]
        if not np.isfinite(tps):
            has = np.isfinite(curve.tokens) & (curve.tokens > 0) & (curve.step > 0)
            tps = float(curve.tokens[has][-1] / curve.step[has][-1]) if has.any() else np.nan
        if N is None or not np.isfinite(tps) or not planned > 0:
            notes.append(f"{run_id}: no numeric params or tokens per step")
            continue
        all_steps, all_losses = curve.observed()
        truth = float(all_losses[-1]) if finished(all_steps, planned) else np.nan  # what a replay is scored on
        steps, losses = curve.observed(None if upto_fraction is None else upto_fraction * planned)
        rows.append(forecast_row(run_id, N, steps, losses, planned, tps, curve.lr_knots(), confidence, truth))
    if not rows:
        raise ScalingLawError(f"{curves_csv}: no run of it is in {runs_csv} with a size and tokens per step")
    return _points(rows, notes)


def _logdir_row(run: str, loss_tag: str, loss: str, confidence: float):
    """A log dir's row: forecast at the saved schedule's planned end while the run is short of
    it, else the finished run's point (`io.read_run_points`)."""
    try:
        schedule = read_schedule_file(run)
    except ValueError as exc:
        raise ScalingLawError(str(exc)) from None
    scalars = read_scalars(run)
    if schedule is not None and loss_tag in scalars and tags.TOKENS in scalars:
        steps, losses = scalars[loss_tag]
        planned = schedule["planned_end"]
        if planned > 0 and not finished(steps, planned):
            final = read_run_points(run, loss_tag=loss_tag, loss="final")
            tok_steps, tokens = scalars[tags.TOKENS]
            tps = float(tokens[-1]) / max(float(tok_steps[-1]), 1.0)
            return forecast_row(run, float(final.N[0]), steps, losses, planned, tps,
                                (schedule["steps"], schedule["lr"]), confidence)
    p = read_run_points(run, loss_tag=loss_tag, loss=loss)
    return p.N[0], p.D[0], p.loss[0], np.nan, np.nan, run, p.loss[0]


def read_ladder(paths, loss_tag: str = "val_loss", loss: str = "final",
                confidence: float = FORECAST_CONFIDENCE) -> LadderPoints:
    """`io.read_run_points` for runs that may still be training: a log dir whose saved schedule
    plans more steps than it has run is its forecast at its planned end; CSVs of N, D, loss
    rows are finished points."""
    rows = []
    for path in path_list(paths, "read_ladder"):
        if os.path.isdir(path):
            runs = run_dirs(path)
            if not runs:
                raise ScalingLawError(f"{path}: no TensorBoard event file under it")
            rows += [_logdir_row(run, loss_tag, loss, confidence) for run in runs]
        else:
            p = read_run_points(path, loss_tag=loss_tag, loss=loss)
            rows += [(n, d, y, np.nan, np.nan, s, y) for n, d, y, s in zip(p.N, p.D, p.loss, p.sources)]
    return _points(rows, [])


def _points(rows: List[tuple], notes: Sequence[str]) -> LadderPoints:
    N, D, L, low, high, names, truth = zip(*rows)
    arrays = [np.array(x, float) for x in (N, D, L, low, high)]
    return LadderPoints(*arrays, tuple(names), np.array(truth, float), tuple(notes))
