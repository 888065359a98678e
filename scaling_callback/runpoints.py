"""Cross-run points (N, D, loss) read from CSV files or from TensorBoard logs of the callback.

No torch: TensorBoard files are read with `tbreader.read_scalars`.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Iterable, List, Optional, Tuple

import numpy as np

from .crossrun import ScalingLawError

__all__ = ["PARAMS_TAG", "PARAMS_TOTAL_TAG", "TOKENS_TAG", "RunPoints", "read_run_points"]

PARAMS_TAG = "scaling/params_non_embedding"  # N, logged by the callback (convention="kaplan")
PARAMS_TOTAL_TAG = "scaling/params_total"  # N, logged by the callback with convention="total"
TOKENS_TAG = "scaling/tokens"  # tokens seen so far, logged by the callback


@dataclass(frozen=True)
class RunPoints:
    """One (N, D, loss) point per run, with where each came from."""

    N: np.ndarray
    D: np.ndarray
    loss: np.ndarray
    sources: Tuple[str, ...]  # "path" for a TensorBoard run, "path:row" for a CSV row
    U: Optional[np.ndarray] = None  # unique tokens of each run: CSV column U (every row), else None


def read_run_points(paths: Iterable[str], loss_tag: str = "val_loss", loss: str = "final") -> RunPoints:
    """Points from each path: a TensorBoard log dir written by the callback, or a CSV file.

    A log dir gives one point: N from `scaling/params_non_embedding` (or `scaling/params_total`
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
    from .tbreader import read_scalars

    try:
        scalars = read_scalars(logdir)
    except FileNotFoundError as exc:
        raise ScalingLawError(f"{logdir}: {exc}") from None
    params_tag = PARAMS_TAG if PARAMS_TAG in scalars or PARAMS_TOTAL_TAG not in scalars else PARAMS_TOTAL_TAG
    missing = [t for t in (params_tag, TOKENS_TAG, loss_tag) if t not in scalars]
    if missing:
        raise ScalingLawError(
            f"{logdir}: no scalar {', '.join(repr(t) for t in missing)} in its TensorBoard logs "
            f"(it has: {', '.join(sorted(scalars)) or 'none'}); the callback logs N and tokens, "
            "and the loss tag is chosen with --tag (loss_tag=)")
    _, params = scalars[params_tag]
    tok_steps, tokens = scalars[TOKENS_TAG]
    loss_steps, losses = scalars[loss_tag]
    i = len(losses) - 1 if which == "final" else int(np.argmin(losses))
    # tokens seen when that loss was measured: the callback logs them at the validation's
    # global step; Lightning logs a validation metric at that step or one before it
    # (mid-epoch), so take the first token count logged at or after the loss's step
    j = min(int(np.searchsorted(tok_steps, loss_steps[i], side="left")), len(tokens) - 1)
    D = float(tokens[j])
    return float(params[-1]), D, float(losses[i]), logdir, float("nan")


def _csv_points(path: str) -> List[Tuple[float, float, float, str, float]]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ScalingLawError(f"{path}: empty CSV (expected a header with columns N, D, loss)")
        cols = {name.strip().lower(): j for j, name in enumerate(header)}
        need = ["n", "loss"] + (["d"] if "d" in cols or "c" not in cols else ["c"])
        absent = [c for c in need if c not in cols]
        if absent:
            raise ScalingLawError(
                f"{path}: no column {', '.join(_COLUMN_NAMES[c] for c in absent)} "
                f"(it has: {', '.join(header)}); need N, D, loss (or C instead of D)")
        out = []
        for line, row in enumerate(reader, start=2):
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
