"""`scaling-callback fit`: a scaling law L(N, D) across runs, with bootstrap intervals and the
compute-optimal allocation. numpy/scipy are imported only when the command runs."""
from __future__ import annotations

import argparse
import json
import math

from ..core.compute import PF_DAY_FLOPS
from .common import estimate, fail, level, num


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "fit",
        help="fit a scaling law L(N, D) across runs",
        description="Fit a scaling law L(N, D) across runs and print it with bootstrap intervals "
                    "and the compute-optimal allocation.")
    p.add_argument("runs", nargs="+", metavar="RUN",
                   help="a TensorBoard log dir written by the callback (one run), or a CSV with "
                        "columns N, D, loss (or C instead of D: D = C/(6N)), one run per row")
    p.add_argument("--form", choices=("chinchilla", "kaplan"), default="chinchilla",
                   help="chinchilla: E + A/N^alpha + B/D^beta (default); "
                        "kaplan: [(N_c/N)^(alpha_N/alpha_D) + D_c/D]^alpha_D")
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
    p.add_argument("--plot", metavar="FILE", help="save the iso-loss / frontier figure (needs matplotlib)")
    p.add_argument("--json", action="store_true",
                   help="print only one JSON object with the law's parameters, each a number or "
                        "{value, low, high}")
    p.add_argument("--save", metavar="FIT.json", help="save the fit for `scaling-callback plan`")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun import ScalingLawError, fit_scaling_law
    from ..io import read_run_points

    try:
        points = read_run_points(args.runs, loss_tag=args.tag, loss=args.loss)
        fit = fit_scaling_law(points.N, points.D, points.loss, form=args.form,
                              n_bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed)
        budgets = args.compute or _default_budgets(fit.compute_range)
        table, no_table = [], ""
        try:
            table = [fit.compute_optimal(c) for c in budgets]
        except ScalingLawError as exc:  # the law fits but has no allocation: say so, keep the law
            no_table = str(exc)
        if args.save:
            fit.save(args.save)
        if args.plot:
            from ..plots import plot_fit

            plot_fit(fit, points.N, points.D, points.loss, args.plot)
    except (ScalingLawError, OSError, ImportError) as exc:
        return fail("fit", str(exc))
    if args.json:
        print(json.dumps({name: est.as_json() for name, est in fit.parameters.items()}))
        return 0
    print(_describe_fit(fit))
    print()
    print(_allocation_table(fit, table) if table else f"no compute-optimal table: {no_table}")
    saved = [f"{what}: {path}" for what, path in (("saved fit", args.save), ("saved figure", args.plot)) if path]
    if saved:
        print("\n" + "\n".join(saved))
    return 0


def _describe_fit(fit) -> str:
    lines = [f"{fit.form} law fitted on {fit.n_points} points: {fit.law.formula}",
             f"objective Σ Huber(δ={fit.delta:g}) of log-loss residuals: {fit.cost:.6g}"]
    if fit.bootstrap_laws:
        lines.append(f"{level(fit)} bootstrap intervals from {len(fit.bootstrap_laws)} of "
                     f"{fit.n_bootstrap} resamples")
    else:
        lines.append("no intervals (--bootstrap 0)")
    lines.append("")
    for name, est in fit.parameters.items():
        interval = "" if est.low is None else f"   [{num(est.low)}, {num(est.high)}]"
        lines.append(f"  {name:<8}{num(est.value):>11}{interval}")
    lines.append("")
    lines.append(f"compute-optimal allocation: N_opt ∝ C^{estimate(fit.n_opt_exponent)}, "
                 f"D_opt ∝ C^{estimate(fit.d_opt_exponent)}")
    return "\n".join(lines)


def _allocation_table(fit, table) -> str:
    head = ("compute (FLOPs)", "PF-days", "N_opt", "D_opt", "tokens/param", "loss")
    rows = [(num(p.compute), num(p.compute / PF_DAY_FLOPS), estimate(p.N), estimate(p.D),
             estimate(p.tokens_per_parameter), estimate(p.loss)) for p in table]
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip()]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    low, high = fit.compute_range
    out.append(f"(the runs span {num(low)} – {num(high)} FLOPs; rows beyond are extrapolations)")
    return "\n".join(out)


def _default_budgets(compute_range):
    low, high = compute_range
    return [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 2)]
