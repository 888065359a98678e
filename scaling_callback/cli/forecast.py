"""`scaling-callback forecast`: the validation loss of one run at a later step, from its curve so far."""
from __future__ import annotations

import json
import math
import os
import sys


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


def chosen_curve(args, command: str = "forecast"):
    """The run of `args.file` (`--run`, or its only one) as a `Curve`, or the exit status 2 with
    the reason printed."""
    from ..io import read_curves

    try:
        curves = read_curves(args.file, tag=args.tag, lr_tag=args.lr_tag, run_id=args.run)
    except (OSError, ValueError, KeyError) as exc:  # KeyError's message is quoted: unwrap it
        exc = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"scaling-callback {command}: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if not curves:
        print(f"scaling-callback {command}: {args.file} has no data rows (only a header)"
              if args.run is None else f"scaling-callback {command}: no run {args.run!r} in {args.file}",
              file=sys.stderr)
        return 2
    if args.run is not None and os.path.isdir(args.file) and args.run not in curves:
        curves = {args.run: next(iter(curves.values()))}  # a log dir is one run, whatever its name
    if args.run is not None:
        if args.run not in curves:
            print(f"scaling-callback {command}: no run {args.run!r} in {args.file}", file=sys.stderr)
            return 2
        return curves[args.run]
    if len(curves) == 1:
        return next(iter(curves.values()))
    print(f"scaling-callback {command}: {args.file} holds {len(curves)} runs; choose one with --run "
          f"({', '.join(sorted(curves)[:5])}, ...)", file=sys.stderr)
    return 2


def read_schedule_csv(path: str):
    """(steps, lr) knots of a CSV with columns step,lr (a whole schedule); ValueError saying why not."""
    import csv

    import numpy as np

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"step", "lr"} <= set(rows[0]):
        raise ValueError(f"{path} needs a header with columns step,lr and at least one row")
    try:
        steps = np.array([float(r["step"]) for r in rows])
        lr = np.array([float(r["lr"]) for r in rows])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: a step or lr that is not a number ({exc})") from None
    if not (np.all(np.isfinite(steps)) and np.all(np.isfinite(lr)) and np.any(lr > 0)):
        raise ValueError(f"{path}: steps and rates must be finite, with some rate positive")
    return steps, lr


def run(args) -> int:
    from ..core.forecast import forecast
    from ..core.whatif import ScheduleMismatch, forecast_under

    curve = chosen_curve(args)
    if isinstance(curve, int):
        return curve
    steps, losses = curve.observed(args.upto)
    lr = curve.lr_knots()
    family = _family(args, curve)
    if isinstance(family, int):
        return family
    if args.schedule is not None:
        try:
            alternative = read_schedule_csv(args.schedule)
        except (OSError, ValueError) as exc:
            print(f"scaling-callback forecast: cannot read the schedule {args.schedule}: {exc}", file=sys.stderr)
            return 2
        at = int(alternative[0].max()) if args.at is None else args.at
        try:
            fc = forecast_under(steps, losses, alternative, target_step=at, run_lr=lr, confidence=args.confidence,
                                family=family)
        except ScheduleMismatch as exc:
            print(f"scaling-callback forecast: the schedule {args.schedule} is not a what-if of this run: {exc}",
                  file=sys.stderr)
            return 2
    else:
        at = curve.last_step if args.at is None else args.at
        fc = forecast(steps, losses, lr=lr, target_step=at, confidence=args.confidence, family=family)
    notes = list(curve.notes) + list(fc.notes)  # the reader's first: what it changed to read the run
    if args.json:
        out = {"run": curve.run_id, "upto": args.upto, "at": at}
        out.update(fc.as_dict(), notes=notes)
        print(json.dumps(_finite_or_none(out)))
    elif fc.ok:
        _print_forecast(curve, fc, len(steps), at, args.upto, notes)
    else:
        print(f"no forecast for run {curve.run_id or '-'}: {fc.reason}")
        for note in curve.notes:
            print(f"note: {note}")
    return 0 if fc.ok else 1


def _family(args, curve):
    """The Family of --family without the run being forecast (its run id in a CSV, its path as a
    log dir), None without --family, or 2 (the exit status) when it cannot be read."""
    if not args.family:
        return None
    from ..family import load_family

    try:
        family = load_family(args.family, runs_csv=args.family_runs, tag=args.tag)
    except (OSError, ValueError, KeyError) as exc:
        exc = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"scaling-callback forecast: cannot read the family: {exc}", file=sys.stderr)
        return 2
    own = os.path.abspath(args.file) if os.path.isdir(args.file) else curve.run_id
    family = family.without(own)
    if os.path.isdir(args.file):  # a log dir given as the parent of its version folder, or as the folder
        family = family.without(os.path.abspath(os.path.join(args.file, curve.run_id)))
    return family


def _print_forecast(curve, fc, n_steps: int, at: int, upto, notes) -> None:
    pct = round(100 * fc.confidence)
    upto = "" if upto is None else f" up to step {upto:g}"
    fitted = f" (the last {fc.n_points} fitted)" if fc.n_points < n_steps else ""
    print(f"run {curve.run_id or '-'}: {n_steps} points{upto}{fitted}")
    print(f"forecast at step {at}: {fc.loss:.4f}  ({pct}% interval {fc.low:.4f} .. {fc.high:.4f})")
    if fc.law == "overfitting":
        print(f"no asymptote: the loss is rising since its best {fc.params['best_loss']:.4f} at step "
              f"{int(fc.params['best_step'])}")
    elif fc.law == "log-linear":
        print("no asymptote in sight: the loss still falls by a steady amount per doubling of the "
              "learning-rate area")
    else:
        print(f"asymptote: {fc.asymptote:.4f}  ({fc.asymptote_low:.4f} .. {fc.asymptote_high:.4f})")
    print(f"law: {fc.law}, exponent {fc.exponent:.3f}")
    for note in notes:
        print(f"note: {note}")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "forecast", help="forecast a run's validation loss at a later step from its curve so far",
        description="Forecast the validation loss at step --at (default: the run's last row) from the "
                    "val_loss of rows with step <= --upto. FILE is a CSV with columns step,val_loss "
                    "(and optionally run_id,tokens,lr: lr of every row is the planned schedule) or a "
                    "TensorBoard log dir of one run (scalar --tag; the planned schedule and end the "
                    "callback saved beside the events, or the learning rate from --lr-tag). With --schedule, under "
                    "another schedule whose past is the run's (docs/whatif.md).")
    p.add_argument("file", metavar="FILE", help="curve CSV or TensorBoard log dir")
    p.add_argument("--run", metavar="RUN_ID", help="run to forecast in a multi-run CSV")
    p.add_argument("--upto", metavar="STEP", type=float,
                   help="use only validation losses at steps <= STEP (default: all of them)")
    p.add_argument("--at", metavar="STEP", type=int,
                   help="step to forecast (default: the run's last row; a callback's log dir: its planned end; "
                        "with --schedule: its last step)")
    p.add_argument("--schedule", metavar="SCHED.csv",
                   help="forecast under this whole schedule instead of the run's (columns step,lr): a what-if. Its "
                        "rates up to --upto must be the run's up to a scale, else exit 2 with where they differ")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tag", default="val_loss", help="TensorBoard scalar with the loss (default val_loss)")
    p.add_argument("--lr-tag", default=None, help="TensorBoard scalar with the learning rate, if logged")
    p.add_argument("--confidence", type=float, default=0.8, help="interval probability (default 0.8)")
    p.add_argument("--family", nargs="+", metavar="PATH",
                   help="the run's family: curve CSVs and/or callback log dirs of finished runs of the same "
                        "recipe (a sweep, a ladder, earlier versions); the run being forecast is left out "
                        "(same run id, or same log dir). Sharpens the forecast: docs/forecast.md, \"Family mode\"")
    p.add_argument("--family-runs", metavar="RUNS_CSV",
                   help="a CSV with columns run_id,planned_steps for the --family CSVs (default: each run ends "
                        "at its last row)")
    p.set_defaults(func=run)
