"""The `family=` setting of the tracker and the callbacks: checked when the tracker is made
(`checked_family`), read once, at the first forecast, into a `Family` (`FamilySource`), and
given to every forecast without the run itself.

What a user may pass: a `Family` (scaling_callback.load_family, learn_family), the path of a
curve CSV or of a log dir written by the callback (a folder of runs: each run in it), a list of
such paths, or a list of finished `FamilyRun`s. Paths are read at the first forecast rather than
when the tracker is made, so that a sweep's runs that finished since count, and only the process
that forecasts pays for the replays (cached on disk by load_family, in memory here).

The run being forecast is never its own family: a log dir of the family that is one of the
run's own log dirs (`own_dirs`: its writer's, its loggers') is not read, and a family run whose
id names one of them is left out (`Family.without`).
"""
from __future__ import annotations

import os
from typing import Callable, Iterable, Optional, Tuple, Union

from ..core.forecast import Family, FamilyRun
from ..family import expanded_paths, family_of

FamilySetting = Union[None, Family, str, Tuple[str, ...], Tuple[FamilyRun, ...]]
SKIPPED_SHOWN = 3  # the reasons a warning quotes for the family runs left out (the rest are counted)


def checked_family(family) -> FamilySetting:
    """`family` as TrackerSettings keeps it: None, a Family, a path (str), or a tuple of paths or of
    FamilyRuns. Raises TypeError for anything else and FileNotFoundError for a path that does not
    exist (so a typo is an error when the tracker is made, not a warning at its first forecast)."""
    if family is None or isinstance(family, Family):
        return family
    if isinstance(family, (str, os.PathLike)):
        return _existing(family)
    if isinstance(family, (bytes, dict)) or not isinstance(family, Iterable):
        raise TypeError(_WRONG_TYPE.format(type(family).__name__))
    items = tuple(family)
    if items and all(isinstance(x, FamilyRun) for x in items):
        return items
    wrong = [x for x in items if not isinstance(x, (str, os.PathLike))]
    if wrong:
        raise TypeError(_WRONG_TYPE.format(f"a list holding {type(wrong[0]).__name__}"))
    return tuple(_existing(x) for x in items)


_WRONG_TYPE = ("family must be a Family, the path of a curve CSV or of a log dir, a list of such paths, or a list of "
               "finished FamilyRun; got {}")


def _existing(path) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"family: no such file or directory: {path}")
    return path


def _same_place(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


class FamilySource:
    """The tracker's family, read once from the setting (`family_of`) and given without the run.

    `family(own_dirs, tag, warn)` -> (the Family without the run, or None; notes for the advice).
    A family that cannot be read, or that holds no finished run, is one warning (through `warn`,
    fn(key, message)) and a note at each forecast; the forecast goes on without it."""

    def __init__(self, setting: FamilySetting):
        self.setting = setting
        self._read = False
        self._family: Optional[Family] = None  # the family read (every run in it), once
        self._trouble: Optional[str] = None  # why there is none to use, in words
        self._left_out = False  # whether a run of the setting was this run itself

    def family(self, own_dirs: Iterable[str], tag: str, warn: Callable[[str, str], None]):
        """(the family without the runs in `own_dirs`, or None; notes): read at the first call,
        from log dirs at the scalar `tag`."""
        if self.setting is None:
            return None, ()
        own = tuple(os.path.abspath(d) for d in own_dirs if d)
        if not self._read:
            self._read = True
            self._load(own, tag, warn)
        if self._family is None:
            return None, (self._trouble,)
        family = self._family
        for run_id in {r.run_id for r in family.runs if any(_same_place(r.run_id, d) for d in own)}:
            family, self._left_out = family.without(run_id), True
        if family.n_runs == 0:
            self._warn_empty(family, warn)
            return None, (self._trouble,)
        return family, ()

    def _load(self, own: Tuple[str, ...], tag: str, warn) -> None:
        setting = self.setting
        try:
            if isinstance(setting, str) or (isinstance(setting, tuple)
                                            and not any(isinstance(x, FamilyRun) for x in setting)):
                paths = expanded_paths(setting)
                setting = [p for p in paths if not any(_same_place(p, d) for d in own)]
                self._left_out = len(setting) < len(paths)
            self._family = family_of(setting, tag=tag)
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            self._trouble = (f"family: it could not be read ({type(exc).__name__}: {exc}); the forecast is made "
                             "without it")
            warn("family", self._trouble)

    def _warn_empty(self, family: Family, warn) -> None:
        skipped = family.skipped
        why = "; ".join(skipped[:SKIPPED_SHOWN]) + (f"; and {len(skipped) - SKIPPED_SHOWN} more"
                                                     if len(skipped) > SKIPPED_SHOWN else "")
        besides = " besides this run itself (left out: a run is never its own family)" if self._left_out else ""
        self._trouble = (f"family: none of its runs is finished{besides} (a family run counts once its last "
                         "validation reached its planned end)" + (f": {why}" if why else "")
                         + "; the forecast is made without it")
        warn("family", self._trouble)
