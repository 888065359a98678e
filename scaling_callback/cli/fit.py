"""`scaling-callback fit`: a scaling law L(N, D) across runs, with bootstrap intervals and the
compute-optimal allocation. numpy/scipy are imported only when the command runs."""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from ..core.compute import PF_DAY_FLOPS
from .common import estimate, fail, level, num, table

# fewer points than this per parameter leave a least-squares fit with fewer residual degrees of
# freedom than parameters: its bootstrap intervals then describe the resampling, not the law
MIN_POINTS_PER_PARAMETER = 2
# an interval wider than a factor of 10 does not pin the parameter to its order of magnitude
MAX_INTERVAL_RATIO = 10.0


def add_parser(subparsers) -> argparse.ArgumentParser:
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
                   help="bootstrap resamples for the intervals (default 200; 0: none; at most 10000)")
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
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun import ScalingLawError, fit_scaling_law, law_class
    from ..core.crossrun.inputs import BOOTSTRAP_RANGE, MAX_BOOTSTRAP
    from ..io import read_run_points

    if not 0 <= args.bootstrap <= MAX_BOOTSTRAP:  # said before any run is read
        return fail("fit", f"--bootstrap must be {BOOTSTRAP_RANGE}, got {args.bootstrap}")
    try:
        points = read_run_points(args.runs, loss_tag=args.tag, loss=args.loss)
        _say_what_was_read(points, to_stderr=args.json)
        k = len(law_class(args.form).names)  # the law's parameters (E, A, B, alpha, beta / N_c, D_c, ...)
        if len(points.N) == k:  # fewer: fit_scaling_law says how many it needs
            raise ScalingLawError(f"{len(points.N)} points for the {k} parameters of the {args.form} law: the law "
                                  "passes through every point, an exact fit that says nothing about the next run; "
                                  f"give at least {MIN_POINTS_PER_PARAMETER * k} runs")
        fit = fit_scaling_law(points.N, points.D, points.loss, form=args.form,
                              n_bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
                              unique_tokens=points.U if args.form == "muennighoff" else None)
        budgets = args.compute or _default_budgets(fit.compute_range)
        allocations, no_table = [], ""
        try:
            allocations = [fit.compute_optimal(c) for c in budgets]
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
            from ..plots import plot_fit

            plot_fit(fit, points.N, points.D, points.loss, args.plot,
                     holdout=None if held is None else (held.N, held.D, held.loss))
    except (ScalingLawError, OSError, ImportError) as exc:
        return fail("fit", str(exc))
    for warning in _fit_warnings(fit):
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        obj = {name: est.as_json() for name, est in fit.parameters.items()}
        if held is not None:
            obj["holdout"] = [{"N": float(n), "D": float(d), "loss": float(y), "predicted": e.as_json()}
                              for n, d, y, e in zip(held.N, held.D, held.loss, predicted)]
        print(json.dumps(obj))
        return 0
    print(_describe_fit(fit))
    print()
    print(_allocation_table(fit, allocations) if allocations else f"no compute-optimal table: {no_table}")
    if held is not None:
        print()
        print(_holdout_table(fit, held, predicted))
    saved = [f"{what}: {path}" for what, path in (("saved fit", args.save), ("saved figure", args.plot)) if path]
    if saved:
        print("\n" + "\n".join(saved))
    return 0


def _say_what_was_read(points, to_stderr: bool) -> None:
    """Which runs (folders) and files the points came from, one line."""
    runs = [s for s in points.sources if ":" not in s or not s.rsplit(":", 1)[1].isdigit()]
    files = sorted({s.rsplit(":", 1)[0] for s in points.sources if s not in runs})
    parts = ([f"{len(runs)} run(s): {', '.join(runs)}"] if runs else []) + \
        [f"{sum(s.startswith(f + ':') for s in points.sources)} row(s) of {f}" for f in files]
    print("read " + "; ".join(parts), file=sys.stderr if to_stderr else sys.stdout)


def _fit_warnings(fit):
    """Loud words for a fit the data do not determine: too few points per parameter, or
    parameters whose intervals span orders of magnitude."""
    out = []
    k = len(fit.parameters)
    if fit.n_points < MIN_POINTS_PER_PARAMETER * k:
        out.append(f"{fit.n_points} points for {k} parameters (fewer than {MIN_POINTS_PER_PARAMETER} per parameter): "
                   f"the fit is under-determined (objective {fit.cost:.3g}); its numbers and intervals are not "
                   "to be trusted")
    for name, est in fit.parameters.items():
        if est.low is not None and est.low > 0 and est.high / est.low > MAX_INTERVAL_RATIO:
            out.append(f"{name}'s interval [{num(est.low)}, {num(est.high)}] spans "
                       f"{math.log10(est.high / est.low):.1f} orders of magnitude: the runs do not determine it")
    return out


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


def _allocation_table(fit, allocations) -> str:
    head = ("compute (FLOPs)", "PF-days", "N_opt", "D_opt", "tokens/param", "loss")
    rows = [(num(p.compute), num(p.compute / PF_DAY_FLOPS), estimate(p.N), estimate(p.D),
             estimate(p.tokens_per_parameter), estimate(p.loss)) for p in allocations]
    out = [table(head, rows)]
    low, high = fit.compute_range
    out.append(f"(the runs span {num(low)} – {num(high)} FLOPs; rows beyond are extrapolations)")
    return "\n".join(out)


def _holdout_table(fit, held, predicted) -> str:
    head = ("held-out run", "N", "D", "compute", "loss", "predicted", "error", "inside")
    rows, errors, inside = [], [], 0
    for src, n, d, y, e in zip(held.sources, held.N, held.D, held.loss, predicted):
        err = (e.value - y) / y
        errors.append(abs(err))
        ok = e.low is not None and e.low <= y <= e.high
        inside += ok
        rows.append((src, num(n), num(d), num(6.0 * n * d), num(y), estimate(e), f"{100 * err:+.2f}%",
                     "" if e.low is None else ("yes" if ok else "no")))
    summary = f"median |error| {100 * float(np.median(errors)):.2f}% over {len(errors)} held-out runs"
    if predicted and predicted[0].low is not None:
        summary += f"; the {level(fit)} interval covers {inside} of {len(errors)}"
    return table(head, rows) + "\n" + summary


def _default_budgets(compute_range):
    low, high = compute_range
    return [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 2)]
