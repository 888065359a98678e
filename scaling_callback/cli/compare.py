"""`scaling-callback compare FIT_A FIT_B`: two saved fits side by side, which family is lower at
each compute, where their frontiers cross, with bootstrap intervals. numpy only."""
from __future__ import annotations

import argparse
import json
import math

from .common import estimate, fail, num, table


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "compare",
        help="compare two saved fits: which family is lower at each compute, where they cross",
        description="Compare the compute-optimal frontiers of two fits saved by `scaling-callback fit "
                    "--save` (say, a baseline and a new architecture): each family's loss at its own "
                    "compute-optimal N, D for every budget, the difference with its bootstrap interval, "
                    "the share of bootstrap pairs in which A is lower, and the budget where they cross.")
    p.add_argument("fit_a", metavar="FIT_A", help="first saved fit (A)")
    p.add_argument("fit_b", metavar="FIT_B", help="second saved fit (B)")
    p.add_argument("--compute", type=float, nargs="+", metavar="FLOPS",
                   help="budgets to compare at (default: every decade from the smallest run of either "
                        "fit to 100 times the largest)")
    p.add_argument("--plot", metavar="FILE", help="save the two frontiers with their bands (needs matplotlib)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: rows [{compute, loss_a, loss_b, difference, "
                        "a_lower_share}], crossing, crossing_interval, crossing_share")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun.compare import compare_fits
    from ..core.crossrun import ScalingLawError, ScalingLawFit

    try:
        fit_a, fit_b = ScalingLawFit.load(args.fit_a), ScalingLawFit.load(args.fit_b)
        low = min(fit_a.compute_range[0], fit_b.compute_range[0])
        high = max(fit_a.compute_range[1], fit_b.compute_range[1])
        budgets = args.compute or [10.0 ** k for k in range(math.floor(math.log10(low)),
                                                             math.ceil(math.log10(high)) + 3)]
        result = compare_fits(fit_a, fit_b, budgets)
        if args.plot:
            from ..plots import plot_comparison

            plot_comparison(fit_a, fit_b, result, args.plot, labels=(args.fit_a, args.fit_b))
    except (ScalingLawError, OSError, ImportError) as exc:
        return fail("compare", str(exc))
    if args.json:
        print(json.dumps({
            "rows": [{"compute": r.compute, "loss_a": r.loss_a.as_json(), "loss_b": r.loss_b.as_json(),
                      "difference": r.difference.as_json(), "a_lower_share": r.a_lower_share}
                     for r in result.rows],
            "crossing": result.crossing, "crossing_interval": result.crossing_interval,
            "crossing_share": result.crossing_share}))
        return 0
    level = f"{100 * result.confidence:g}%"
    print(f"A: {args.fit_a} ({fit_a.form}, {fit_a.n_points} points)   B: {args.fit_b} ({fit_b.form}, "
          f"{fit_b.n_points} points)")
    print(f"loss at each family's compute-optimal N, D; [{level} bootstrap intervals]")
    print()
    head = ("compute (FLOPs)", "loss A", "loss B", "A − B", "P(A lower)", "lower")
    rows = [(num(r.compute), estimate(r.loss_a), estimate(r.loss_b), estimate(r.difference),
             "" if r.a_lower_share is None else f"{r.a_lower_share:.2f}", r.lower) for r in result.rows]
    print(table(head, rows))
    print(f"(the runs span {num(low)} – {num(high)} FLOPs; rows beyond are extrapolations)")
    if result.crossing is None:
        print("the frontiers do not cross between 1e12 and 1e32 FLOPs")
    else:
        print(f"the frontiers cross at {num(result.crossing)} FLOPs")
    if result.crossing_share is not None:
        where = ("" if result.crossing_interval is None else
                 f", {level} of those between {num(result.crossing_interval[0])} and "
                 f"{num(result.crossing_interval[1])} FLOPs")
        print(f"{100 * result.crossing_share:.0f}% of bootstrap pairs cross{where}")
    if args.plot:
        print(f"\nsaved figure: {args.plot}")
    return 0
