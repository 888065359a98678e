"""A run's family from files: curve CSVs (the format of data/curves) and TensorBoard log dirs
written by the callback, as the `Family` forecast(..., family=) uses (core/forecast/family.py).

    from scaling_callback import load_family, forecast
    family = load_family(["runs/earlier.csv", "lightning_logs"])     # every finished run in them
    fc = forecast(steps, losses, target_step=T, lr=schedule, family=family.without("my-run"))

A run counts when its last validation reached its planned end (`reached_planned_end`):
a CSV run's planned end is its last row unless a runs CSV (`runs_csv`, columns run_id and
planned_steps) says otherwise; a log dir's is the one the callback saved beside its events.
The replays of each run (the run forecast again from a tenth of its planned steps, when a forecast
first needs it) are cached on disk (`cache_dir`, by default $SCALING_CALLBACK_CACHE or
~/.cache/scaling-callback), keyed by the run's curve, the priors and the fraction, so that a
forecast at every validation, or a command run once per run of a file, replays each once.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from typing import Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import __version__
from .core.forecast import DEFAULT_PRIORS, Family, FamilyRun, learn_family
from .io import Curve, PathLike, read_curves, run_dirs
from .core.forecast.family import reached_planned_end
from .runs import MIN_VALIDATIONS

__all__ = ["load_family", "family_of", "family_runs", "expanded_paths", "curve_family_run", "ReplayCache", "default_cache_dir"]

CACHE_ENV = "SCALING_CALLBACK_CACHE"  # where the replays are cached; "" turns the disk cache off


def default_cache_dir() -> Optional[str]:
    """$SCALING_CALLBACK_CACHE, or ~/.cache/scaling-callback; None when the variable is set empty."""
    if CACHE_ENV in os.environ:
        return os.environ[CACHE_ENV] or None
    return os.path.join(os.path.expanduser("~"), ".cache", "scaling-callback")


class ReplayCache:
    """A dict-like of replay errors (float, or None where no forecast was made) on disk, one small
    JSON file each, keyed by (run key, priors, cutoff) and this package's version, over a dict in
    memory; every failure to read or write the disk is a miss, never an error."""

    def __init__(self, directory: Optional[str]):
        self.directory = None if directory is None else os.path.join(directory, "family-replays")
        self.memory: dict = {}

    def _path(self, key) -> Optional[str]:
        if self.directory is None:
            return None
        digest = hashlib.sha1(repr((key, __version__)).encode()).hexdigest()
        return os.path.join(self.directory, digest + ".json")

    def __contains__(self, key) -> bool:
        if key in self.memory:
            return True
        path = self._path(key)
        try:
            with open(path) as fh:
                error = json.load(fh)["error"]
        except (OSError, TypeError, ValueError, KeyError):
            return False
        if error is not None and not isinstance(error, float):
            return False
        self.memory[key] = error
        return True

    def __getitem__(self, key):
        if key not in self:
            raise KeyError(key)
        return self.memory[key]

    def __setitem__(self, key, error: Optional[float]):
        self.memory[key] = error
        path = self._path(key)
        if path is None:
            return
        try:
            os.makedirs(self.directory, exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w") as fh:
                json.dump({"error": error}, fh)
            os.replace(tmp, path)
        except OSError:
            pass


def curve_family_run(curve: Curve, run_id: str, planned_end: Optional[float] = None) -> Union[FamilyRun, str]:
    """The FamilyRun of a curve whose last validation reached its planned end (by default the
    curve's last row), or the reason it does not count."""
    steps, losses = curve.observed()
    keep = np.isfinite(losses) & (losses > 0)
    steps, losses = steps[keep], losses[keep]
    end = float(curve.last_step if planned_end is None else planned_end)
    if len(steps) < MIN_VALIDATIONS:
        return f"{run_id}: {len(steps)} validation(s), a family run needs {MIN_VALIDATIONS}"
    if not reached_planned_end(steps[-1], end):
        return f"{run_id}: not finished (last validation at step {int(steps[-1])}, planned end {end:g})"
    return FamilyRun(run_id, tuple(float(s) for s in steps), tuple(float(v) for v in losses), int(steps[-1]),
                     curve.lr_knots())


def _planned_steps(runs_csv: Optional[str]) -> dict:
    if runs_csv is None:
        return {}
    with open(runs_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and not {"run_id", "planned_steps"} <= set(rows[0]):
        raise ValueError(f"{runs_csv}: a runs CSV needs the columns run_id and planned_steps")
    return {r["run_id"]: float(r["planned_steps"]) for r in rows}


def expanded_paths(paths) -> List[str]:
    """Each path as given; a log dir holding several runs (version folders) as each of them."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"family: no such file or directory: {path}")
        out += (run_dirs(path) or [path]) if os.path.isdir(path) else [path]
    return out


def family_runs(paths: Union[PathLike, Iterable[PathLike]], runs_csv: Optional[str] = None,
                tag: str = "val_loss") -> Tuple[List[FamilyRun], List[str]]:
    """(the finished runs in `paths`, the reasons the others were left out). A CSV run's id is its
    run_id; a log dir's is its path (what `Family.without` is given to leave the run out). A run
    folder without event files or without `tag` yet is left out like an unfinished run."""
    planned = _planned_steps(runs_csv)
    runs, skipped = [], []
    for path in expanded_paths(paths):
        is_dir = os.path.isdir(path)
        try:
            curves = read_curves(path, tag=tag)
        except (KeyError, FileNotFoundError) as exc:
            if not is_dir:
                raise
            # a run folder without the loss yet (a run just started, or still writing): not finished
            skipped.append(f"{os.path.abspath(path)}: {exc.args[0] if exc.args else exc}")
            continue
        for rid, curve in curves.items():
            run_id = os.path.abspath(path) if is_dir else rid
            got = curve_family_run(curve, run_id, None if is_dir else planned.get(rid))
            (skipped if isinstance(got, str) else runs).append(got)
    return runs, skipped


def load_family(paths: Union[PathLike, Iterable[PathLike]], runs_csv: Optional[str] = None, priors=None,
                tag: str = "val_loss", cache_dir: Optional[str] = "default") -> Family:
    """The Family of the finished runs in `paths` (curve CSVs, log dirs), replayed under `priors`
    (DEFAULT_PRIORS) with the replays cached in `cache_dir` ("default": `default_cache_dir()`;
    None: memory only). Raises FileNotFoundError / ValueError on a path that cannot be read."""
    runs, skipped = family_runs(paths, runs_csv, tag)
    cache = ReplayCache(default_cache_dir() if cache_dir == "default" else cache_dir)
    family = learn_family(runs, DEFAULT_PRIORS if priors is None else priors, cache=cache)
    family.skipped = tuple(skipped)
    return family


def family_of(family, priors=None, tag: str = "val_loss") -> Optional[Family]:
    """What a `family=` argument of the tracker or the callbacks may be, as a Family: None, a
    Family, a path or a list of paths (`load_family`), or a list of FamilyRuns."""
    if family is None or isinstance(family, Family):
        return family
    if isinstance(family, (str, os.PathLike)):
        return load_family(family, priors=priors, tag=tag)
    items: Sequence = list(family)
    if items and all(isinstance(x, FamilyRun) for x in items):
        return learn_family(items, DEFAULT_PRIORS if priors is None else priors, cache=ReplayCache(None))
    if all(isinstance(x, (str, os.PathLike)) for x in items):
        return load_family(items, priors=priors, tag=tag)
    raise TypeError("family must be a Family, a path, a list of paths (curve CSVs, log dirs) or a list of "
                    f"FamilyRun, got {type(family).__name__}")
