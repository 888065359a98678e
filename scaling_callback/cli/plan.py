"""`scaling-callback plan`: the compute-optimal N, D and expected loss for a budget, from a fit
saved by `scaling-callback fit --save`."""
from __future__ import annotations

import argparse
import json
import math

from ..core.compute import PF_DAY_FLOPS
from .common import fail, level, num


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plan",
        help="compute-optimal N, D and expected loss for a budget, from a saved fit",
        description="Compute-optimal model size N, tokens D and the expected loss for a compute "
                    "budget, from a fit saved by `scaling-callback fit --save`.")
    p.add_argument("--compute", type=float, required=True, metavar="FLOPS",
                   help="training budget in FLOPs (C = 6ND; 1 PF-day = 8.64e19 FLOPs)")
    p.add_argument("--fit", required=True, metavar="FIT.json", help="a fit saved by `scaling-callback fit --save`")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: compute, N, D, tokens_per_parameter, loss")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun import ScalingLawError, ScalingLawFit

    try:
        fit = ScalingLawFit.load(args.fit)
        plan = fit.compute_optimal(args.compute)
    except (ScalingLawError, OSError) as exc:
        return fail("plan", str(exc))
    if args.json:
        print(json.dumps({"compute": plan.compute, "N": plan.N.as_json(), "D": plan.D.as_json(),
                          "tokens_per_parameter": plan.tokens_per_parameter.as_json(),
                          "loss": plan.loss.as_json()}))
        return 0
    interval_level = level(fit)
    print(f"budget {plan.compute:.4g} FLOPs ({plan.compute / PF_DAY_FLOPS:.4g} PF-days); "
          f"{fit.form} law from {args.fit}, fitted on {fit.n_points} points")
    rows = [("N (parameters)", plan.N), ("D (tokens)", plan.D),
            ("tokens per parameter", plan.tokens_per_parameter), ("expected loss", plan.loss)]
    for name, est in rows:
        interval = "" if est.low is None else f"   {interval_level} interval {num(est.low)} – {num(est.high)}"
        print(f"  {name:<21}{num(est.value):>11}{interval}")
    note = _extrapolation_note(fit, plan.compute)
    if note:
        print(note)
    return 0


def _extrapolation_note(fit, compute: float) -> str:
    low, high = fit.compute_range
    # reach: how many times the fitted range's own width (in log compute) the budget lies beyond it
    reach = math.log(compute / high) / math.log(high / low) if high > low and compute > high else 0.0
    if reach > 1:
        return (f"WARNING: {compute / high:.3g}x the compute of the largest run in the fit ({num(high)} FLOPs), "
                f"{reach:.1f} times further (in log compute) than the fitted range {num(low)} – {num(high)} is "
                "wide: a far extrapolation, the interval assumes the law holds out there")
    if compute > high:
        return (f"note: {compute / high:.3g}x the compute of the largest run in the fit "
                f"({num(high)} FLOPs): an extrapolation")
    if compute < low:
        return (f"note: below the smallest run in the fit ({num(low)} FLOPs): an extrapolation")
    return ""
