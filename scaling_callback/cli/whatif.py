"""`scaling-callback whatif`: the final loss of a run if its cool-down started at other steps."""
from __future__ import annotations

import json
import sys

from .common import fail, num, table


def _length(text: str):
    """A cool-down length: a whole number of steps, or a fraction of the run in (0, 1)."""
    value = float(text)
    if value >= 1:
        if value != int(value):
            raise ValueError(f"a length of {text} steps is not a whole number")
        return int(value)
    if value <= 0:
        raise ValueError(f"a cool-down length must be positive, got {text}")
    return value


def _rows(plan_rows, planned_end):
    rows = []
    for label, o in plan_rows:
        rows.append([label, str(o.start), str(o.end), f"{o.end / planned_end:.0%}",
                     f"{num(o.loss)} [{num(o.low)}, {num(o.high)}]"])
    return rows


def run(args) -> int:
    import numpy as np

    from ..core.whatif import Cooldown, ScheduleMismatch, cooldown_options, planned_cooldown
    from .forecast import chosen_curve

    curve = chosen_curve(args, "whatif")
    if isinstance(curve, int):
        return curve
    steps, losses = curve.observed(args.upto)
    if len(steps) == 0:
        return fail("whatif", f"no validation loss{'' if args.upto is None else f' up to step {args.upto:g}'}")
    try:
        recipe = Cooldown(_length(args.decay_length), args.shape, args.final_fraction)
    except ValueError as exc:
        return fail("whatif", str(exc))
    planned_end, lr, seen = curve.last_step, curve.lr_knots(), float(np.max(steps))
    early = [s for s in args.decay_at if s < seen]
    if early:
        return fail("whatif", f"a cool-down cannot start at step {early[0]}, before the last step seen ({seen:g}): "
                              "the run has trained there already")
    try:
        options = cooldown_options(steps, losses, args.decay_at, planned_lr=lr, planned_end=planned_end,
                                   recipe=recipe, confidence=args.confidence)
        planned_start, _ = planned_cooldown(lr, planned_end)
        planned = None
        if planned_start is not None and planned_start >= seen:
            planned = cooldown_options(steps, losses, [planned_start], planned_lr=lr, planned_end=planned_end,
                                       confidence=args.confidence)[0]
    except ScheduleMismatch as exc:
        return fail("whatif", str(exc))
    if args.json:
        keys = ("start", "end", "loss", "low", "high", "steps_saved", "compute_saved")
        out = {"run": curve.run_id, "upto": args.upto, "planned_end": planned_end, "recipe": recipe.describe(),
               "options": [{k: getattr(o, k) for k in keys} for o in options],
               "planned": None if planned is None else {k: getattr(planned, k) for k in keys}}
        print(json.dumps(out))
    else:
        pct = round(100 * args.confidence)
        print(f"run {curve.run_id or '-'}: {len(steps)} points up to step {seen:g}; planned end {planned_end}; "
              f"{recipe.describe()}")
        labelled = [("cool down", o) for o in options] + ([("planned", planned)] if planned is not None else [])
        print(table(["", "start", "end step", "compute", f"final loss [{pct}% interval]"],
                    _rows(labelled, planned_end)))
        print("compute: the end step as a share of the planned run's (C ∝ steps at a fixed batch)")
    if args.plot:
        from ..whatif_plot import plot_whatif

        plot_whatif(options, args.plot, reference=planned, confidence=args.confidence,
                    title=f"{curve.run_id or args.file}: seen to step {seen:g}, {recipe.describe()}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0 if all(np.isfinite(o.loss) for o in options) else 1


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "whatif", help="the final loss if the cool-down started at other steps",
        description="Forecast the final validation loss of a cool-down started at each --decay-at step (of "
                    "--decay-length steps, or that fraction of the run it ends, in --shape, to --final-fraction "
                    "of the peak rate) from the curve up to --upto: a table of start, end step, compute and final "
                    "loss with its interval, beside the planned schedule's own cool-down; --plot draws final loss "
                    "against compute. FILE is a curve CSV or a TensorBoard log dir, as for `forecast` "
                    "(docs/whatif.md).")
    p.add_argument("file", metavar="LOGDIR|FILE", help="curve CSV or TensorBoard log dir")
    p.add_argument("--run", metavar="RUN_ID", help="run in a multi-run CSV")
    p.add_argument("--upto", metavar="STEP", type=float, help="use only validation losses at steps <= STEP")
    p.add_argument("--decay-at", metavar="S", type=int, nargs="+", required=True, help="cool-down start steps")
    p.add_argument("--decay-length", metavar="L", required=True,
                   help="cool-down length: steps (a whole number), or a fraction of the run it ends in (0, 1)")
    p.add_argument("--shape", choices=("linear", "sqrt", "cosine"), default="sqrt",
                   help="cool-down shape: linear, sqrt (1 - sqrt) or cosine (default sqrt)")
    p.add_argument("--final-fraction", type=float, default=0.0, help="final rate per unit of the peak (default 0)")
    p.add_argument("--plot", metavar="FILE", help="write the figure of final loss against compute")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tag", default="val_loss", help="TensorBoard scalar with the loss (default val_loss)")
    p.add_argument("--lr-tag", default=None, help="TensorBoard scalar with the learning rate, if logged")
    p.add_argument("--confidence", type=float, default=0.8, help="interval probability (default 0.8)")
    p.set_defaults(func=run)
