"""Load validation curves: the CSV format of ../shared/curves and TensorBoard log dirs (numpy only).

A curve file has one row per (run, step): `run_id,step,tokens,lr,val_loss` where only `step`
and `val_loss` are required. Rows with an `lr` but no `val_loss` describe the planned schedule
between validations; blank cells are missing values.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np


@dataclass(frozen=True)
class Curve:
    """One run: every row's step, tokens, lr and val_loss as float arrays (NaN where blank).

    Rows are sorted by step. `lr` and `tokens` of every row describe the planned run; a forecast
    made at step `upto` may only read `val_loss` of rows with step <= upto (see `observed`).
    """

    run_id: str
    step: np.ndarray
    tokens: np.ndarray
    lr: np.ndarray
    val_loss: np.ndarray

    def observed(self, upto: Optional[float] = None):
        """(steps, losses) of rows with a val_loss and step <= upto (all of them if None)."""
        keep = np.isfinite(self.val_loss)
        if upto is not None:
            keep &= self.step <= upto
        return self.step[keep], self.val_loss[keep]

    def lr_knots(self):
        """(steps, lr) of the rows that give a learning rate, or None when fewer than two do."""
        keep = np.isfinite(self.lr)
        if keep.sum() < 2:
            return None
        return self.step[keep], self.lr[keep]

    @property
    def last_step(self) -> int:
        """The last row's step: the planned end of the run as far as the file says."""
        return int(self.step[-1])


def _cell(text: Optional[str]) -> float:
    if text is None:
        return np.nan
    text = text.strip()
    return float(text) if text else np.nan


def read_curves_csv(path: str, run_id: Optional[str] = None) -> Dict[str, Curve]:
    """Every run of a curve CSV as {run_id: Curve} (only `run_id`'s when given; {} if absent).

    A file without a `run_id` column is one run named ''. Raises ValueError when the header
    lacks `step` or `val_loss` or a cell is not a number.
    """
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in ("step", "val_loss") if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
        col = {name: i for i, name in enumerate(header)}
        run_col = col.get("run_id")
        cols = [col.get(c) for c in ("step", "tokens", "lr", "val_loss")]
        rows: Dict[str, list] = {}
        for lineno, row in enumerate(reader, start=2):
            rid = row[run_col] if run_col is not None and run_col < len(row) else ""
            if run_id is not None and rid != run_id:
                continue
            try:
                values = tuple(_cell(row[i]) if i is not None and i < len(row) else np.nan for i in cols)
            except ValueError as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from None
            if not np.isfinite(values[0]):
                raise ValueError(f"{path}:{lineno}: blank or non-finite step")
            rows.setdefault(rid, []).append(values)
    curves = {}
    for rid, values in rows.items():
        table = np.array(sorted(values, key=lambda v: v[0]), dtype=float).reshape(-1, 4)
        curves[rid] = Curve(rid, *table.T)
    return curves


def read_curve_tensorboard(logdir: str, tag: str = "val_loss", lr_tag: Optional[str] = None) -> Curve:
    """The scalar `tag` of a TensorBoard log dir as a Curve (lr from `lr_tag` when given).

    Without `lr_tag`, the planned schedule the callback saved beside the events
    (`schedule_file`) gives the learning rate and the planned end (the curve's last row), so a
    forecast from the command line is the callback's. Raises FileNotFoundError when there are
    no event files, KeyError when `tag` is absent (the message lists the tags that exist),
    ValueError when a log dir holds several runs (each version folder is one).
    """
    from .runpoints import TOKENS_TAG, run_dirs
    from .schedule_file import read_schedule_file
    from .tbreader import read_scalars

    runs = run_dirs(logdir)
    if len(runs) > 1:
        raise ValueError(f"{logdir} holds {len(runs)} runs ({', '.join(runs[:4])}{', ...' if len(runs) > 4 else ''}); "
                         "give one run's folder")
    if runs:
        logdir = runs[0]
    scalars = read_scalars(logdir)
    if tag not in scalars:
        raise KeyError(f"tag {tag!r} not in {logdir!r}; scalar tags: {sorted(scalars)}")
    steps, losses = scalars[tag]
    schedule = read_schedule_file(logdir) if lr_tag is None else None
    if schedule is not None and TOKENS_TAG in scalars:
        steps = _validation_steps(steps, scalars[TOKENS_TAG][0])
    allsteps = steps.astype(float)
    lr = np.full(len(steps), np.nan)
    if lr_tag is not None:
        if lr_tag not in scalars:
            raise KeyError(f"tag {lr_tag!r} not in {logdir!r}; scalar tags: {sorted(scalars)}")
        lr_steps, lr_values = scalars[lr_tag]
        allsteps = np.union1d(allsteps, lr_steps.astype(float))
        lr = np.full(len(allsteps), np.nan)
        lr[np.searchsorted(allsteps, lr_steps)] = lr_values
    elif schedule is not None and schedule["steps"]:
        knots = np.asarray(schedule["steps"], dtype=float)
        rates = np.asarray(schedule["lr"], dtype=float)
        allsteps = np.union1d(np.union1d(allsteps, knots), [float(schedule["planned_end"])])
        lr = np.interp(allsteps, knots, rates)  # the knots are linear in between, as forecast() reads them
    val = np.full(len(allsteps), np.nan)
    val[np.searchsorted(allsteps, steps)] = losses
    return Curve(os.path.basename(os.path.normpath(logdir)), allsteps,
                 np.full(len(allsteps), np.nan), lr, val)


def _validation_steps(loss_steps: np.ndarray, scale_steps: np.ndarray) -> np.ndarray:
    """The callback's step of each validation loss: Lightning logs a validation metric at the
    validation's global step or one before it (mid-epoch), the callback logs the run's scale at
    the global step itself, and forecasts from that step; a loss one step before a scale point
    moves onto it."""
    j = np.minimum(np.searchsorted(scale_steps, loss_steps, side="left"), len(scale_steps) - 1)
    after = scale_steps[j]
    return np.where((after >= loss_steps) & (after - loss_steps <= 1), after, loss_steps)


def read_curves(path: str, tag: str = "val_loss", lr_tag: Optional[str] = None,
                run_id: Optional[str] = None) -> Dict[str, Curve]:
    """A curve CSV file (only `run_id`'s rows when given), or a TensorBoard log dir (one run,
    scalar `tag`, learning rate from `lr_tag`), as {run_id: Curve}."""
    if os.path.isdir(path):
        curve = read_curve_tensorboard(path, tag, lr_tag)
        return {curve.run_id: curve}
    return read_curves_csv(path, run_id)
