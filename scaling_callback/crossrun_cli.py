"""`scaling-callback fit` and `scaling-callback plan`: cross-run scaling laws from the shell.

`add_fit_parser(subparsers)` / `add_plan_parser(subparsers)` register the subcommands on an
argparse parser; each sets `func`, which runs the command and returns the exit status (2 with
a one-line message on bad input, never a traceback). numpy/scipy are imported only when a
command runs, so building the parser stays cheap.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

__all__ = ["add_compare_parser", "add_fit_parser", "add_plan_parser"]

PF_DAY = 8.64e19  # FLOPs in one PF-day (Kaplan et al. 2020 §2.1)


def add_fit_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fit",
        help="fit a scaling law L(N, D) across runs",
        description="Fit a scaling law L(N, D) across runs and print it with bootstrap intervals "
                    "and the compute-optimal allocation.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a TensorBoard log dir written by the callback (one run), or a CSV with "
                        "columns N, D, loss (or C instead of D: D = C/(6N)), one run per row")
    p.add_argument("--form", choices=("chinchilla", "kaplan", "muennighoff"), default="chinchilla",
                   help="chinchilla: E + A/N^alpha + B/D^beta (default); "
                        "kaplan: [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D; "
                        "muennighoff: chinchilla in effective N', D' for repeated data (needs a CSV "
                        "column U, the unique tokens of each run)")
    p.add_argument("--tag", default="val_loss", help="loss tag in TensorBoard runs (default: val_loss)")
    p.add_argument("--loss", choices=("final", "best"), default="final",
                   help="take each TensorBoard run's final loss (default) or its best; D is the "
                        "tokens seen at that loss's step")
    p.add_argument("--bootstrap", type=int, default=200, metavar="K",
                   help="bootstrap resamples for the intervals (default 200; 0: none)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--compute", type=float, nargs="+", metavar="FLOPS",
                   help="budgets for the compute-optimal table (default: every decade from the "
                        "smallest run's compute to ten times the largest)")
    p.add_argument("--holdout", nargs="+", metavar="RUN", default=[],
                   help="runs (log dirs or CSVs, as RUN) kept out of the fit: each one's loss is "
                        "predicted with its interval and set beside the truth, and drawn by --plot")
    p.add_argument("--plot", metavar="FILE", help="save the iso-loss / frontier figure (needs matplotlib)")
    p.add_argument("--json", action="store_true",
                   help="print only one JSON object with the law's parameters, each a number or "
                        "{value, low, high} (with --holdout, also \"holdout\": [{N, D, loss, "
                        "predicted}])")
    p.add_argument("--save", metavar="FIT.json", help="save the fit for `scaling-callback plan`")
    p.set_defaults(func=run_fit)
    return p


def add_plan_parser(subparsers) -> argparse.ArgumentParser:
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
    p.set_defaults(func=run_plan)
    return p


def add_compare_parser(subparsers) -> argparse.ArgumentParser:
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
    p.set_defaults(func=run_compare)
    return p


def run_compare(args) -> int:
    from .compare import compare_fits
    from .crossrun import ScalingLawError, ScalingLawFit

    try:
        fit_a, fit_b = ScalingLawFit.load(args.fit_a), ScalingLawFit.load(args.fit_b)
        low = min(fit_a.compute_range[0], fit_b.compute_range[0])
        high = max(fit_a.compute_range[1], fit_b.compute_range[1])
        budgets = args.compute or [10.0 ** k for k in range(math.floor(math.log10(low)),
                                                             math.ceil(math.log10(high)) + 3)]
        result = compare_fits(fit_a, fit_b, budgets)
        if args.plot:
            from .crossrun_plot import plot_comparison

            plot_comparison(fit_a, fit_b, result, args.plot, labels=(args.fit_a, args.fit_b))
    except (ScalingLawError, OSError, ImportError, ValueError) as exc:
        return _fail("compare", str(exc))
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
    rows = [(_num(r.compute), _est(r.loss_a), _est(r.loss_b), _est(r.difference),
             "" if r.a_lower_share is None else f"{r.a_lower_share:.2f}", r.lower) for r in result.rows]
    print(_table(head, rows))
    print(f"(the runs span {_num(low)} – {_num(high)} FLOPs; rows beyond are extrapolations)")
    if result.crossing is None:
        print("the frontiers do not cross between 1e12 and 1e32 FLOPs")
    else:
        print(f"the frontiers cross at {_num(result.crossing)} FLOPs")
    if result.crossing_share is not None:
        where = ("" if result.crossing_interval is None else
                 f", {level} of those between {_num(result.crossing_interval[0])} and "
                 f"{_num(result.crossing_interval[1])} FLOPs")
        print(f"{100 * result.crossing_share:.0f}% of bootstrap pairs cross{where}")
    if args.plot:
        print(f"\nsaved figure: {args.plot}")
    return 0


def _fail(command: str, message: str) -> int:
    print(f"scaling-callback {command}: error: {message}", file=sys.stderr)
    return 2


def run_fit(args) -> int:
    from .crossrun import ScalingLawError, fit_scaling_law
    from .runpoints import read_run_points

    try:
        points = read_run_points(args.runs, loss_tag=args.tag, loss=args.loss)
        fit = fit_scaling_law(points.N, points.D, points.loss, form=args.form,
                              n_bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
                              unique_tokens=points.U if args.form == "muennighoff" else None)
        budgets = args.compute or _default_budgets(fit.compute_range)
        table, no_table = [], ""
        try:
            table = [fit.compute_optimal(c) for c in budgets]
        except ScalingLawError as exc:  # the law fits but has no allocation: say so, keep the law
            no_table = str(exc)
        held = read_run_points(args.holdout, loss_tag=args.tag, loss=args.loss) if args.holdout else None
        predicted = [] if held is None else [
            fit.expected_loss(float(n), float(d),
                              None if held.U is None or fit.form != "muennighoff" else float(u))
            for n, d, u in zip(held.N, held.D, held.N if held.U is None else held.U)]
        if args.save:
            fit.save(args.save)
        if args.plot:
            from .crossrun_plot import plot_fit

            plot_fit(fit, points.N, points.D, points.loss, args.plot,
                     holdout=None if held is None else (held.N, held.D, held.loss))
    except (ScalingLawError, OSError, ImportError) as exc:
        return _fail("fit", str(exc))
    if args.json:
        obj = {name: est.as_json() for name, est in fit.parameters.items()}
        if held is not None:
            obj["holdout"] = [{"N": float(n), "D": float(d), "loss": float(y), "predicted": e.as_json()}
                              for n, d, y, e in zip(held.N, held.D, held.loss, predicted)]
        print(json.dumps(obj))
        return 0
    print(_describe_fit(fit))
    print()
    print(_allocation_table(fit, table) if table else f"no compute-optimal table: {no_table}")
    if held is not None:
        print()
        print(_holdout_table(fit, held, predicted))
    saved = [f"{what}: {path}" for what, path in (("saved fit", args.save), ("saved figure", args.plot)) if path]
    if saved:
        print("\n" + "\n".join(saved))
    return 0


def run_plan(args) -> int:
    from .crossrun import ScalingLawError, ScalingLawFit

    if args.inference_tokens is not None or args.loss is not None:
        return _run_inference_plan(args)
    try:
        fit = ScalingLawFit.load(args.fit)
        plan = fit.compute_optimal(args.compute)
    except (ScalingLawError, OSError) as exc:
        return _fail("plan", str(exc))
    if args.json:
        print(json.dumps({"compute": plan.compute, "N": plan.N.as_json(), "D": plan.D.as_json(),
                          "tokens_per_parameter": plan.tokens_per_parameter.as_json(),
                          "loss": plan.loss.as_json()}))
        return 0
    level = _level(fit)
    print(f"budget {plan.compute:.4g} FLOPs ({plan.compute / PF_DAY:.4g} PF-days); "
          f"{fit.form} law from {args.fit}, fitted on {fit.n_points} points")
    rows = [("N (parameters)", plan.N), ("D (tokens)", plan.D),
            ("tokens per parameter", plan.tokens_per_parameter), ("expected loss", plan.loss)]
    for name, est in rows:
        interval = "" if est.low is None else f"   {level} interval {_num(est.low)} – {_num(est.high)}"
        print(f"  {name:<21}{_num(est.value):>11}{interval}")
    note = _extrapolation_note(fit, plan.compute)
    if note:
        print(note)
    return 0


def _run_inference_plan(args) -> int:
    from .crossrun import ScalingLawError, ScalingLawFit
    from .inference import inference_optimal

    try:
        fit = ScalingLawFit.load(args.fit)
        plan = inference_optimal(fit, args.inference_tokens or 0.0, compute=args.compute, loss=args.loss)
    except (ScalingLawError, OSError) as exc:
        return _fail("plan", str(exc))
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
    rows = [("", "Chinchilla-optimal", "training + inference optimal"),
            ("N (parameters)", _est(plan.chinchilla_N), _est(plan.N)),
            ("D (tokens)", _est(plan.chinchilla_D), _est(plan.D)),
            ("total FLOPs (6ND + 2NT)", _est(plan.chinchilla_total_flops), _est(plan.total_flops))]
    print(_table(rows[0], rows[1:], indent="  "))
    s = plan.saving
    interval = "" if s.low is None else f" [{100 * s.low:.3g}%, {100 * s.high:.3g}%]"
    print(f"training {_num(plan.train_flops.value)} + inference {_num(plan.inference_flops.value)} FLOPs; "
          f"saves {100 * s.value:.3g}%{interval} of the Chinchilla-optimal model's total")
    return 0


# ------------------------------------------------------------------------------ formatting


def _num(x: float) -> str:
    return f"{x:.4g}"


def _level(fit) -> str:
    return f"{100 * fit.confidence:g}%"


def _est(est) -> str:
    if est.low is None:
        return _num(est.value)
    return f"{_num(est.value)} [{_num(est.low)}, {_num(est.high)}]"


def _table(head, rows, indent: str = "") -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in [head] + list(rows)) for i in range(len(head))]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [head] + list(rows))


def _describe_fit(fit) -> str:
    lines = [f"{fit.form} law fitted on {fit.n_points} points: {fit.law.formula}",
             f"objective Σ Huber(δ={fit.delta:g}) of log-loss residuals: {fit.cost:.6g}"]
    if fit.bootstrap_laws:
        lines.append(f"{_level(fit)} bootstrap intervals from {len(fit.bootstrap_laws)} of "
                     f"{fit.n_bootstrap} resamples")
    else:
        lines.append("no intervals (--bootstrap 0)")
    lines.append("")
    for name, est in fit.parameters.items():
        interval = "" if est.low is None else f"   [{_num(est.low)}, {_num(est.high)}]"
        lines.append(f"  {name:<8}{_num(est.value):>11}{interval}")
    lines.append("")
    lines.append(f"compute-optimal allocation: N_opt ∝ C^{_est(fit.n_opt_exponent)}, "
                 f"D_opt ∝ C^{_est(fit.d_opt_exponent)}")
    return "\n".join(lines)


def _allocation_table(fit, table) -> str:
    head = ("compute (FLOPs)", "PF-days", "N_opt", "D_opt", "tokens/param", "loss")
    rows = [(_num(p.compute), _num(p.compute / PF_DAY), _est(p.N), _est(p.D),
             _est(p.tokens_per_parameter), _est(p.loss)) for p in table]
    out = [_table(head, rows)]
    low, high = fit.compute_range
    out.append(f"(the runs span {_num(low)} – {_num(high)} FLOPs; rows beyond are extrapolations)")
    return "\n".join(out)


def _holdout_table(fit, held, predicted) -> str:
    head = ("held-out run", "N", "D", "compute", "loss", "predicted", "error", "inside")
    rows, errors, inside = [], [], 0
    for src, n, d, y, e in zip(held.sources, held.N, held.D, held.loss, predicted):
        err = (e.value - y) / y
        errors.append(abs(err))
        ok = e.low is not None and e.low <= y <= e.high
        inside += ok
        rows.append((src, _num(n), _num(d), _num(6.0 * n * d), _num(y), _est(e), f"{100 * err:+.2f}%",
                     "" if e.low is None else ("yes" if ok else "no")))
    out = [_table(head, rows)]
    summary = f"median |error| {100 * float(np.median(errors)):.2f}% over {len(errors)} held-out runs"
    if predicted and predicted[0].low is not None:
        summary += f"; the {_level(fit)} interval covers {inside} of {len(errors)}"
    return "\n".join(out + [summary])


def _default_budgets(compute_range):
    low, high = compute_range
    return [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 2)]


def _extrapolation_note(fit, compute: float) -> str:
    low, high = fit.compute_range
    if compute > high:
        return (f"note: {compute / high:.3g}x the compute of the largest run in the fit "
                f"({_num(high)} FLOPs): an extrapolation")
    if compute < low:
        return (f"note: below the smallest run in the fit ({_num(low)} FLOPs): an extrapolation")
    return ""
