"""`scaling-callback plan`: the compute-optimal N, D and expected loss for a budget, from a fit
saved by `scaling-callback fit --save`; with --inference-tokens (or --loss), the model of the same
loss that minimises training + inference FLOPs beside it (Sardana et al. 2023)."""
from __future__ import annotations

import argparse
import json
import math

from ..core.compute import PF_DAY_FLOPS
from .common import estimate, fail, level, num, table


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "plan",
        help="compute-optimal N, D and expected loss for a budget, from a saved fit",
        description="Compute-optimal model size N, tokens D and the expected loss for a compute "
                    "budget, from a fit saved by `scaling-callback fit --save`. With "
                    "--inference-tokens, also the model of the same loss that minimises training + "
                    "inference FLOPs, 6ND + 2N*T (Sardana et al. 2023).")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--compute", type=float, metavar="FLOPS",
                        help="training budget in FLOPs (C = 6ND; 1 PF-day = 8.64e19 FLOPs)")
    target.add_argument("--loss", type=float, metavar="LOSS",
                        help="target loss instead of a budget: the cheapest model that reaches it")
    p.add_argument("--inference-tokens", type=float, metavar="T",
                   help="tokens the model will serve over its life: plan for training + inference FLOPs "
                        "(6ND + 2NT) at the same loss, beside the Chinchilla-optimal point")
    p.add_argument("--fit", required=True, metavar="FIT.json", help="a fit saved by `scaling-callback fit --save`")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: compute, N, D, tokens_per_parameter, loss (with "
                        "--inference-tokens or --loss: loss, inference_tokens, chinchilla {N, D, "
                        "total_flops}, N, D, train_flops, inference_flops, total_flops, saving)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun import ScalingLawError, ScalingLawFit

    if args.inference_tokens is not None or args.loss is not None:
        return _run_inference_plan(args)
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


def _run_inference_plan(args) -> int:
    from ..core.crossrun import ScalingLawError, ScalingLawFit
    from ..core.crossrun.inference import inference_optimal

    try:
        fit = ScalingLawFit.load(args.fit)
        plan = inference_optimal(fit, args.inference_tokens or 0.0, compute=args.compute, loss=args.loss)
    except (ScalingLawError, OSError) as exc:
        return fail("plan", str(exc))
    if args.json:
        print(json.dumps({
            "loss": plan.loss, "inference_tokens": plan.inference_tokens,
            "chinchilla": {"N": plan.chinchilla_N.as_json(), "D": plan.chinchilla_D.as_json(),
                           "total_flops": plan.chinchilla_total_flops.as_json()},
            "N": plan.N.as_json(), "D": plan.D.as_json(), "train_flops": plan.train_flops.as_json(),
            "inference_flops": plan.inference_flops.as_json(), "total_flops": plan.total_flops.as_json(),
            "saving": plan.saving.as_json()}))
        return 0
    source = f"compute-optimal loss of {args.compute:.4g} FLOPs" if args.compute else "target loss"
    print(f"loss {plan.loss:.4g} ({source}); {fit.form} law from {args.fit}, fitted on {fit.n_points} points; "
          f"{plan.inference_tokens:.4g} inference tokens")
    rows = [("N (parameters)", estimate(plan.chinchilla_N), estimate(plan.N)),
            ("D (tokens)", estimate(plan.chinchilla_D), estimate(plan.D)),
            ("total FLOPs (6ND + 2NT)", estimate(plan.chinchilla_total_flops), estimate(plan.total_flops))]
    print(table(("", "Chinchilla-optimal", "training + inference optimal"), rows, indent="  "))
    s = plan.saving
    interval = "" if s.low is None else f" [{100 * s.low:.3g}%, {100 * s.high:.3g}%]"
    print(f"training {num(plan.train_flops.value)} + inference {num(plan.inference_flops.value)} FLOPs; "
          f"saves {100 * s.value:.3g}%{interval} of the Chinchilla-optimal model's total")
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
