"""Reading what the package reads (numpy only; tensorboard's own reader for event files):

- validation curves: the CSV format of data/curves (one row per run and step) and TensorBoard
  log dirs -> `Curve`;
- cross-run points (N, D, loss): CSV files or the callback's TensorBoard log dirs -> `RunPoints`;
- scalar series of TensorBoard event files -> `read_scalars`.

A curve file has one row per (run, step): `run_id,step,tokens,lr,val_loss` where only `step`
and `val_loss` are required. Rows with an `lr` but no `val_loss` describe the planned schedule
between validations; blank cells are missing values.
"""
from __future__ import annotations

import csv
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from .core import tags
from .core.status import ScalingLawError


@contextmanager
def _csv_rows(path: str) -> Iterator[Tuple[List[str], Iterator[Tuple[int, List[str]]]]]:
    """(stripped header, (line number, row) pairs) of a CSV file: the one CSV parser here."""
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        yield header, enumerate(reader, start=2)


# --------------------------------------------------------------------------------------------
# TensorBoard scalars

def read_scalars(logdir: str, tags: Optional[Iterable[str]] = None) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Every scalar series under `logdir` (searched recursively) as {tag: (steps, values)}.

    All points are kept (EventAccumulator samples 10,000 per tag unless told otherwise). Where
    several event files (a resumed run, several versions) hold the same tag, their points are
    merged and sorted by step; a step written twice keeps the value written last.
    Raises FileNotFoundError when `logdir` holds no event file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = []
    for root, _, names in os.walk(logdir):
        files += [os.path.join(root, n) for n in names if "tfevents" in n]
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file under {logdir!r}")
    wanted = None if tags is None else set(tags)
    points: Dict[str, Dict[int, Tuple[float, float]]] = {}
    for path in files:
        acc = EventAccumulator(path, size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if wanted is not None and tag not in wanted:
                continue
            series = points.setdefault(tag, {})
            for ev in acc.Scalars(tag):
                old = series.get(ev.step)
                if old is None or ev.wall_time >= old[0]:
                    series[ev.step] = (ev.wall_time, ev.value)
    out = {}
    for tag, series in points.items():
        steps = np.array(sorted(series), dtype=np.int64)
        out[tag] = (steps, np.array([series[s][1] for s in steps], dtype=float))
    return out


# --------------------------------------------------------------------------------------------
# Validation curves


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
    with _csv_rows(path) as (header, rows_of_file):
        missing = [c for c in ("step", "val_loss") if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; header is {header}")
        col = {name: i for i, name in enumerate(header)}
        run_col = col.get("run_id")
        cols = [col.get(c) for c in ("step", "tokens", "lr", "val_loss")]
        rows: Dict[str, list] = {}
        for lineno, row in rows_of_file:
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

    Raises FileNotFoundError when there are no event files, KeyError when `tag` is absent
    (the message lists the tags that exist).
    """
    scalars = read_scalars(logdir)
    if tag not in scalars:
        raise KeyError(f"tag {tag!r} not in {logdir!r}; scalar tags: {sorted(scalars)}")
    steps, losses = scalars[tag]
    allsteps = steps.astype(float)
    lr = np.full(len(steps), np.nan)
    if lr_tag is not None:
        if lr_tag not in scalars:
            raise KeyError(f"tag {lr_tag!r} not in {logdir!r}; scalar tags: {sorted(scalars)}")
        lr_steps, lr_values = scalars[lr_tag]
        allsteps = np.union1d(allsteps, lr_steps.astype(float))
        lr = np.full(len(allsteps), np.nan)
        lr[np.searchsorted(allsteps, lr_steps)] = lr_values
    val = np.full(len(allsteps), np.nan)
    val[np.searchsorted(allsteps, steps)] = losses
    return Curve(os.path.basename(os.path.normpath(logdir)), allsteps,
                 np.full(len(allsteps), np.nan), lr, val)


def read_curves(path: str, tag: str = "val_loss", lr_tag: Optional[str] = None,
                run_id: Optional[str] = None) -> Dict[str, Curve]:
    """A curve CSV file (only `run_id`'s rows when given), or a TensorBoard log dir (one run,
    scalar `tag`, learning rate from `lr_tag`), as {run_id: Curve}."""
    if os.path.isdir(path):
        curve = read_curve_tensorboard(path, tag, lr_tag)
        return {curve.run_id: curve}
    return read_curves_csv(path, run_id)


# --------------------------------------------------------------------------------------------
# Cross-run points


@dataclass(frozen=True)
class RunPoints:
    """One (N, D, loss) point per run, with where each came from."""

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    sources: Tuple[str, ...]  # "path" for a TensorBoard run, "path:row" for a CSV row


def read_run_points(paths: Iterable[str], loss_tag: str = "val_loss", loss: str = "final") -> RunPoints:
    """Points from each path: a TensorBoard log dir written by the callback, or a CSV file.

    A log dir gives one point: N from `scaling/params_non_embedding` (or `scaling/params_total`
    when the run was logged with convention="total"), loss from `loss_tag`
    ("final": its last value; "best": its lowest), D from `scaling/tokens` logged at that loss's
    validation (the first token count at or after the loss's step). A CSV gives one point per row, from
    columns N, D, loss (names case-insensitive); without D, a column C gives D = C/(6N).
    Raises ScalingLawError saying what is missing or which point is not positive.
    """
    if loss not in ("final", "best"):
        raise ScalingLawError(f"loss must be 'final' or 'best', got {loss!r}")
    rows: List[Tuple[float, float, float, str]] = []
    for path in paths:
        if os.path.isdir(path):
            rows.append(_run_point(path, loss_tag, loss))
        elif os.path.isfile(path):
            rows.extend(_csv_points(path))
        else:
            raise ScalingLawError(f"{path}: no such file or directory (give a TensorBoard log dir or a CSV)")
    if not rows:
        raise ScalingLawError("no runs given")
    for row in rows:
        for name, value in zip(("N", "D", "loss"), row):
            if not (np.isfinite(value) and value > 0):
                raise ScalingLawError(f"{row[3]}: {name} = {value!r}; N, D and loss must be positive numbers")
    N, D, L, src = zip(*rows)
    return RunPoints(np.array(N), np.array(D), np.array(L), tuple(src))


def _run_point(logdir: str, loss_tag: str, which: str) -> Tuple[float, float, float, str]:
    try:
        scalars = read_scalars(logdir)
    except FileNotFoundError as exc:
        raise ScalingLawError(f"{logdir}: {exc}") from None
    params_tag = tags.PARAMS if tags.PARAMS in scalars or tags.PARAMS_TOTAL not in scalars else tags.PARAMS_TOTAL
    missing = [t for t in (params_tag, tags.TOKENS, loss_tag) if t not in scalars]
    if missing:
        raise ScalingLawError(
            f"{logdir}: no scalar {', '.join(repr(t) for t in missing)} in its TensorBoard logs "
            f"(it has: {', '.join(sorted(scalars)) or 'none'}); the callback logs N and tokens, "
            "and the loss tag is chosen with --tag (loss_tag=)")
    _, params = scalars[params_tag]
    tok_steps, tokens = scalars[tags.TOKENS]
    loss_steps, losses = scalars[loss_tag]
    i = len(losses) - 1 if which == "final" else int(np.argmin(losses))
    # tokens seen when that loss was measured: the callback logs them at the validation's
    # global step; Lightning logs a validation metric at that step or one before it
    # (mid-epoch), so take the first token count logged at or after the loss's step
    j = min(int(np.searchsorted(tok_steps, loss_steps[i], side="left")), len(tokens) - 1)
    D = float(tokens[j])
    return float(params[-1]), D, float(losses[i]), logdir


def _csv_points(path: str) -> List[Tuple[float, float, float, str]]:
    with _csv_rows(path) as (header, rows_of_file):
        if not header:
            raise ScalingLawError(f"{path}: empty CSV (expected a header with columns N, D, loss)")
        cols = {name.lower(): j for j, name in enumerate(header)}
        need = ["n", "loss"] + (["d"] if "d" in cols or "c" not in cols else ["c"])
        absent = [c for c in need if c not in cols]
        if absent:
            raise ScalingLawError(
                f"{path}: no column {', '.join(_COLUMN_NAMES[c] for c in absent)} "
                f"(it has: {', '.join(header)}); need N, D, loss (or C instead of D)")
        out = []
        for line, row in rows_of_file:
            if not any(cell.strip() for cell in row):
                continue
            try:
                values = {c: float(row[cols[c]]) for c in need}
            except (IndexError, ValueError):
                raise ScalingLawError(f"{path}:{line}: expected numbers in columns "
                                      f"{', '.join(_COLUMN_NAMES[c] for c in need)}, got {row}") from None
            # C = 6·N·D (Kaplan et al. 2020 eq. 2.1)
            if "d" in values:
                D = values["d"]
            else:
                D = values["c"] / (6.0 * values["n"]) if values["n"] > 0 else float("nan")
            out.append((values["n"], D, values["loss"], f"{path}:{line}"))
    if not out:
        raise ScalingLawError(f"{path}: no rows under the header")
    return out


_COLUMN_NAMES = {"n": "N", "d": "D", "c": "C", "loss": "loss"}
