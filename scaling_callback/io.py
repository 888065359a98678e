"""Reading what the package reads (numpy only; tensorboard's own reader for event files):

- validation curves: the CSV format of data/curves (one row per run and step) and TensorBoard
  log dirs -> `Curve`;
- cross-run points (N, D, loss): CSV files or the callback's TensorBoard log dirs -> `RunPoints`;
- scalar series of TensorBoard event files -> `read_scalars`;
- the planned learning-rate schedule the callback saves beside its events (json) ->
  `write_schedule_file` / `read_schedule_file`.

A curve file has one row per (run, step): `run_id,step,tokens,lr,val_loss` where only `step`
and `val_loss` are required. Rows with an `lr` but no `val_loss` describe the planned schedule
between validations; blank cells are missing values.
"""
from __future__ import annotations

import csv
import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Type, Union

import numpy as np

from .core import tags
from .core.checks import whole_number
from .core.forecast.inputs import MAX_STEP
from .core.status import ScalingLawError


@contextmanager
def _csv_rows(path: str, error: Type[ValueError] = ValueError) -> Iterator[Tuple[List[str], Iterator[Tuple[int, List[str]]]]]:
    """(stripped header, (line number, row) pairs) of a CSV file: the one CSV parser here. A
    binary file, or one the CSV reader cannot split (a field over its size limit), raises
    `error` saying it is not a CSV text file, while the rows are read too."""
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            yield header, enumerate(reader, start=2)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise error(f"{path}: not a CSV text file ({exc})") from None


PathLike = Union[str, "os.PathLike[str]"]


def one_path(path, reader: str) -> str:
    """`path` (a str or an os.PathLike) as a str; a TypeError naming `reader` for anything else
    (a list of paths given where one path goes)."""
    if isinstance(path, (str, os.PathLike)):
        return os.fspath(path)
    raise TypeError(f"{reader} takes one path (a str or os.PathLike), got {type(path).__name__} {path!r}")


def path_list(paths, reader: str) -> List[str]:
    """The paths of `paths` as a list of str: one path (a str or os.PathLike) is one path, never
    its characters; else an iterable of them (a TypeError naming `reader` otherwise)."""
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    if isinstance(paths, bytes) or not isinstance(paths, Iterable):
        raise TypeError(f"{reader} takes a path or a list of paths (str or os.PathLike), got "
                        f"{type(paths).__name__} {paths!r}")
    return [one_path(p, reader) for p in paths]


def name_list(names) -> Optional[List[str]]:
    """Tag names as a list: one name (a str) is one name, never its characters; None stays None."""
    if names is None:
        return None
    return [names] if isinstance(names, str) else list(names)


# --------------------------------------------------------------------------------------------
# TensorBoard scalars

def read_scalars(logdir: PathLike, tags: Optional[Iterable[str]] = None) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Every scalar series under `logdir` (searched recursively) as {tag: (steps, values)};
    only the `tags` given when given (one tag name or several).

    All points are kept (EventAccumulator samples 10,000 per tag unless told otherwise). Where
    several event files (a resumed run, several versions) hold the same tag, their points are
    merged and sorted by step; a step written twice keeps the value written last.
    Raises FileNotFoundError when `logdir` holds no event file.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = one_path(logdir, "read_scalars")
    files = []
    for root, _, names in os.walk(logdir):
        files += [os.path.join(root, n) for n in names if "tfevents" in n]
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file under {logdir!r}")
    wanted = None if tags is None else set(name_list(tags))
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


def run_dirs(path: PathLike) -> List[str]:
    """The run folders under `path` (itself included): those that hold event files directly,
    sorted. Lightning writes each run into its own `version_N` folder; a resumed run writes its
    new event files into the same folder, so it stays one run."""
    path = one_path(path, "run_dirs")
    return sorted(root for root, _, names in os.walk(path) if any("tfevents" in n for n in names))


# --------------------------------------------------------------------------------------------
# The planned schedule beside the events: `scaling-callback forecast LOGDIR` forecasts under the
# schedule the callback forecast with (the knots, linear in between), to the same planned end

SCHEDULE_FORMAT = "scaling-callback schedule 1"


def write_schedule_file(log_dir: str, *, steps: Sequence[int], lr: Sequence[float], planned_end: int,
                        source: str, monitor: str) -> str:
    """Write (replace) the schedule file `tags.SCHEDULE_FILE` in `log_dir`; returns its path."""
    os.makedirs(log_dir, exist_ok=True)
    path = os.path.join(log_dir, tags.SCHEDULE_FILE)
    body = {"format": SCHEDULE_FORMAT, "planned_end": int(planned_end), "source": str(source),
            "monitor": str(monitor), "steps": [int(s) for s in steps], "lr": [float(v) for v in lr]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(body, f)
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def read_schedule_file(log_dir: PathLike) -> Optional[dict]:
    """The schedule saved in `log_dir`, or None when there is none: the file's fields, checked,
    with the knots in step order and "notes", a list of what was changed to read it (knots
    given out of step order are sorted, as `forecast()` sorts the knots it is given). Raises
    ValueError naming the file and what is wrong when the file is there but is not one this
    package wrote, or a field cannot be read (`schedule_fields`)."""
    path = os.path.join(one_path(log_dir, "read_schedule_file"), tags.SCHEDULE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            body = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable schedule file ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != SCHEDULE_FORMAT:
        raise ValueError(f"{path}: not a schedule file written by scaling-callback")
    try:
        return schedule_fields(body)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}; fix the file, or delete it to forecast under a constant "
                         "learning rate") from None


def schedule_fields(body: dict) -> dict:
    """`body` of a schedule file with `planned_end` a whole number of steps, `steps` and `lr`
    lists of one length (whole steps from 0 to 2^53, rates finite and >= 0), the knots sorted by
    step, and "notes" saying what was changed; a ValueError naming the field otherwise, and for
    two knots at one step with different rates (which rate holds there is not said: the callback
    writes a drop as two knots at consecutive steps)."""
    end = whole_number(body.get("planned_end"), "planned_end", maximum=MAX_STEP,
                       what="a whole number of steps from 0 to 2^53")
    steps, lr = body.get("steps"), body.get("lr")
    for name, value in (("steps", steps), ("lr", lr)):
        if not isinstance(value, list):
            raise ValueError(f"{name} must be a list, got {'null' if value is None else type(value).__name__}")
    if len(steps) != len(lr):
        raise ValueError(f"steps and lr must be of one length, got {len(steps)} and {len(lr)}")
    steps = [whole_number(k, f"steps[{i}]", maximum=MAX_STEP, what="a whole number of steps from 0 to 2^53")
             for i, k in enumerate(steps)]
    for i, rate in enumerate(lr):
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"lr[{i}] must be a finite learning rate >= 0, got {rate!r}")
    knots = sorted(zip(steps, map(float, lr)), key=lambda knot: knot[0])
    notes = [] if [k for k, _ in knots] == steps else [
        f"the knots of {tags.SCHEDULE_FILE} were not in step order: read sorted by step"]
    kept: List[Tuple[int, float]] = []
    for step, rate in knots:
        if kept and kept[-1][0] == step:
            if kept[-1][1] != rate:
                raise ValueError(f"two knots at step {step} give different rates ({kept[-1][1]:g} and {rate:g}); "
                                 f"a drop is two knots at consecutive steps ({step - 1} and {step})")
            continue  # the same knot twice
        kept.append((step, rate))
    return dict(body, planned_end=end, steps=[k for k, _ in kept], lr=[v for _, v in kept], notes=notes)


# --------------------------------------------------------------------------------------------
# Validation curves


@dataclass(frozen=True)
class Curve:
    """One run: every row's step, tokens, lr and val_loss as float arrays (NaN where blank).

    Rows are sorted by step. `lr` and `tokens` of every row describe the planned run; a forecast
    made at step `upto` may only read `val_loss` of rows with step <= upto (see `observed`).
    `notes`: what the reader changed to read the run (say, a schedule file's knots sorted).
    """

    run_id: str
    step: np.ndarray
    tokens: np.ndarray
    lr: np.ndarray
    val_loss: np.ndarray
    notes: Tuple[str, ...] = ()

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

    A file without a `run_id` column is one run named ''. Raises ValueError when the file is not
    CSV text, the header lacks `step` or `val_loss` or a cell is not a number.
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

    Without `lr_tag`, the planned schedule the callback saved beside the events gives the
    learning rate and the planned end (the curve's last row), and each loss moves to the
    callback's validation step (`_validation_steps`), so a forecast from the command line is
    the callback's. Raises FileNotFoundError when there are no event files, KeyError when `tag`
    is absent (the message lists the tags that exist), ValueError when the log dir holds
    several runs (each version folder is one).
    """
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
    if schedule is not None and tags.TOKENS in scalars:
        steps = _validation_steps(steps, scalars[tags.TOKENS][0])
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
        lr = np.interp(allsteps, knots, rates)  # sorted knots, linear in between, as forecast() reads them
    val = np.full(len(allsteps), np.nan)
    val[np.searchsorted(allsteps, steps)] = losses
    return Curve(os.path.basename(os.path.normpath(logdir)), allsteps,
                 np.full(len(allsteps), np.nan), lr, val, tuple(schedule["notes"]) if schedule else ())


def _validation_steps(loss_steps: np.ndarray, scale_steps: np.ndarray) -> np.ndarray:
    """The callback's step of each validation loss: Lightning logs a validation metric at the
    validation's global step or one before it (mid-epoch), the callback logs the run's scale at
    the global step itself and forecasts from that step; a loss one step before a scale point
    moves onto it."""
    j = np.minimum(np.searchsorted(scale_steps, loss_steps, side="left"), len(scale_steps) - 1)
    after = scale_steps[j]
    return np.where((after >= loss_steps) & (after - loss_steps <= 1), after, loss_steps)


def read_curves(path: PathLike, tag: str = "val_loss", lr_tag: Optional[str] = None,
                run_id: Optional[str] = None) -> Dict[str, Curve]:
    """A curve CSV file (only `run_id`'s rows when given), or a TensorBoard log dir (one run,
    scalar `tag`, learning rate from `lr_tag`), as {run_id: Curve}. `path` is one path (a str
    or an os.PathLike)."""
    path = one_path(path, "read_curves")
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
    U: Optional[np.ndarray] = None  # unique tokens of each run: CSV column U (every row), else None


def read_run_points(paths: Union[PathLike, Iterable[PathLike]], loss_tag: str = "val_loss",
                    loss: str = "final") -> RunPoints:
    """Points from each path: a TensorBoard log dir written by the callback, or a CSV file.
    `paths` is one path (a str or an os.PathLike: one path, never its characters) or several.

    A directory holding event files directly is one run; a folder of runs (Lightning's
    `version_N` folders) gives one point per run folder, never a merge of them (`run_dirs`).
    A run gives one point: N from `scaling/params_non_embedding` (or `scaling/params_total`
    when the run was logged with convention="total"), loss from `loss_tag`
    ("final": its last value; "best": its lowest), D from `scaling/tokens` logged at that loss's
    validation (the first token count at or after the loss's step). A CSV gives one point per row, from
    columns N, D, loss (names case-insensitive); without D, a column C gives D = C/(6N); an
    optional column U (unique tokens each run drew its D from) is read when every point has it.
    Raises ScalingLawError saying what is missing or which point is not positive.
    """
    if loss not in ("final", "best"):
        raise ScalingLawError(f"loss must be 'final' or 'best', got {loss!r}")
    rows: List[Tuple[float, float, float, str, float]] = []
    for path in path_list(paths, "read_run_points"):
        if os.path.isdir(path):
            runs = run_dirs(path)
            if not runs:
                raise ScalingLawError(f"{path}: no TensorBoard event file under it")
            rows.extend(_run_point(run, loss_tag, loss) for run in runs)
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
    N, D, L, src, U = zip(*rows)
    U = np.array(U)
    if np.isnan(U).all():
        U = None
    elif np.isnan(U).any():
        missing = next(s for s, u in zip(src, U) if np.isnan(u))
        raise ScalingLawError(f"{missing}: no unique tokens U, which other points have; give U for every run or none")
    elif not (np.isfinite(U) & (U > 0)).all():
        bad = next(s for s, u in zip(src, U) if not (np.isfinite(u) and u > 0))
        raise ScalingLawError(f"{bad}: U must be a positive number of unique tokens")
    return RunPoints(np.array(N), np.array(D), np.array(L), tuple(src), U)


def _run_point(logdir: str, loss_tag: str, which: str) -> Tuple[float, float, float, str, float]:
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
    return float(params[-1]), D, float(losses[i]), logdir, float("nan")  # a log dir has no U


def _csv_points(path: str) -> List[Tuple[float, float, float, str, float]]:
    with _csv_rows(path, ScalingLawError) as (header, rows_of_file):
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
            try:
                U = float(row[cols["u"]]) if "u" in cols else float("nan")
            except (IndexError, ValueError):
                raise ScalingLawError(f"{path}:{line}: expected a number in column U, got {row}") from None
            out.append((values["n"], D, values["loss"], f"{path}:{line}", U))
    if not out:
        raise ScalingLawError(f"{path}: no rows under the header")
    return out


_COLUMN_NAMES = {"n": "N", "d": "D", "c": "C", "loss": "loss"}
