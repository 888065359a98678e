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
                        "fit to 100 times the largest; needed when neither fit records its runs, as a "
                        "published law saved without them)")
    p.add_argument("--plot", metavar="FILE", help="save the two frontiers with their bands (needs matplotlib)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: rows [{compute, loss_a, loss_b, difference, "
                        "a_lower_share, lower}], crossing, crossing_interval, crossing_share")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun.compare import compare_fits
    from ..core.crossrun import ScalingLawError, ScalingLawFit

    try:
        fit_a, fit_b = ScalingLawFit.load(args.fit_a), ScalingLawFit.load(args.fit_b)
        budgets = args.compute or default_budgets(fit_a, fit_b)
        if not budgets:
            return fail("compare", "neither fit records the compute of its runs (compute_range [NaN, NaN]: a law "
                                   "saved without the runs it was fitted on, such as a published one), so there "
                                   "is no default range of budgets: give them with --compute FLOPS [FLOPS ...]")
        result = compare_fits(fit_a, fit_b, budgets)
        if args.plot:
            from ..plots import plot_comparison

            plot_comparison(fit_a, fit_b, result, args.plot, labels=(args.fit_a, args.fit_b))
    except (ScalingLawError, OSError, ImportError) as exc:
        return fail("compare", str(exc))
    if args.json:
        print(json.dumps({
            "rows": [{"compute": r.compute, "loss_a": r.loss_a.as_json(), "loss_b": r.loss_b.as_json(),
                      "difference": r.difference.as_json(), "a_lower_share": r.a_lower_share, "lower": r.lower}
                     for r in result.rows],
            "crossing": result.crossing, "crossing_interval": result.crossing_interval,
            "crossing_share": result.crossing_share}))
        return 0
    _print_comparison(args, fit_a, fit_b, result)
    return 0


def default_budgets(fit_a, fit_b):
    """Every decade from the smallest run of either fit to 100 times the largest, from the fits
    that record their runs' compute (a published law saved without runs records NaN); [] when
    neither does."""
    spans = [c for c in (*fit_a.compute_range, *fit_b.compute_range) if math.isfinite(c) and c > 0]
    if not spans:
        return []
    return [10.0 ** k for k in range(math.floor(math.log10(min(spans))), math.ceil(math.log10(max(spans))) + 3)]


def _span(fit_a, fit_b) -> str:
    """Which compute the runs behind the two fits span, as far as the fits record it."""
    known = [(name, fit.compute_range) for name, fit in (("A", fit_a), ("B", fit_b))
             if all(math.isfinite(c) for c in fit.compute_range)]
    if not known:
        return "(neither fit records its runs' compute: any row may be an extrapolation)"
    low, high = min(r[0] for _, r in known), max(r[1] for _, r in known)
    unknown = "" if len(known) == 2 else f"; {'B' if known[0][0] == 'A' else 'A'} records no runs"
    return f"(the runs span {num(low)} – {num(high)} FLOPs{unknown}; rows beyond are extrapolations)"


def _print_comparison(args, fit_a, fit_b, result) -> None:
    from ..core.crossrun.compare import NO_DIFFERENCE

    level = f"{100 * result.confidence:g}%"
    print(f"A: {args.fit_a} ({fit_a.form}, {fit_a.n_points} points)   B: {args.fit_b} ({fit_b.form}, "
          f"{fit_b.n_points} points)")
    print(f"loss at each family's compute-optimal N, D; [{level} bootstrap intervals]")
    print()
    head = ("compute (FLOPs)", "loss A", "loss B", "A − B", "P(A lower)", "lower")
    rows = [(num(r.compute), estimate(r.loss_a), estimate(r.loss_b), estimate(r.difference),
             "" if r.a_lower_share is None else f"{r.a_lower_share:.2f}", r.lower) for r in result.rows]
    print(table(head, rows))
    print(_span(fit_a, fit_b))
    verdicts = {r.lower for r in result.rows}
    if verdicts == {NO_DIFFERENCE}:
        print("A and B give the same loss at every budget: no difference")
    else:
        _print_verdicts(fit_a, fit_b, result, level, verdicts)
    if args.plot:
        print(f"\nsaved figure: {args.plot}")


def _print_verdicts(fit_a, fit_b, result, level: str, verdicts) -> None:
    """What the table's "lower" column rests on, and where the frontiers cross."""
    from ..core.crossrun.compare import NO_CLEAR_DIFFERENCE

    if NO_CLEAR_DIFFERENCE in verdicts:
        print(f"{NO_CLEAR_DIFFERENCE}: the {level} interval of A − B contains 0")
    without = [name for name, fit in (("A", fit_a), ("B", fit_b)) if not fit.bootstrap_laws]
    if without:
        print(f"no intervals: {' and '.join(without)} {'has' if len(without) == 1 else 'have'} no bootstrap "
              "refits, so \"lower\" is the point estimates' order")
    if result.crossing is None:
        print("the frontiers do not cross between 1e12 and 1e32 FLOPs")
    else:
        print(f"the frontiers cross at {num(result.crossing)} FLOPs")
    if result.crossing_share is not None:
        where = ("" if result.crossing_interval is None else
                 f", {level} of those between {num(result.crossing_interval[0])} and "
                 f"{num(result.crossing_interval[1])} FLOPs")
        print(f"{100 * result.crossing_share:.0f}% of bootstrap pairs cross{where}")
