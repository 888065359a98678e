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
                    "and the compute-optimal allocation. Runs still training count too (the ladder "
                    "before it finishes): each is its forecast at its planned end, D its planned "
                    "tokens, and the bootstrap draws it from its forecast's interval, so every "
                    "interval widens with the ladder's uncertainty. A log dir is still training when "
                    "the callback's saved schedule plans more steps than it has run; a curves CSV "
                    "needs --runs RUNS.csv, e.g. `fit CURVES.csv --runs RUNS.csv --upto-fraction 0.4 "
                    "--holdout RUN_ID --json`.")
    p.add_argument("runs_paths", nargs="+", metavar="RUN",
                   help="a TensorBoard log dir written by the callback (one run; forecast at its "
                        "planned end while still training), a CSV with columns N, D, loss (or C "
                        "instead of D: D = C/(6N)), one run per row, or with --runs a curves CSV "
                        "(columns run_id, step, tokens, lr, val_loss: the format of data/curves)")
    p.add_argument("--runs", metavar="RUNS.csv",
                   help="read each RUN as a curves CSV whose runs this file describes (columns "
                        "run_id, planned_steps, tokens_per_step, params: data/curves/runs.csv): "
                        "a run short of its planned steps is its forecast there")
    p.add_argument("--upto-fraction", type=float, metavar="F",
                   help="with --runs: cut every run at F (0 < F <= 1) of its planned steps, to replay "
                        "a ladder before it finished")
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
                   help="runs (log dirs or CSVs, as RUN; with --runs, run ids of the curves CSV) "
                        "kept out of the fit: each one's loss is predicted with its interval and set "
                        "beside the truth (its final loss, when it finished), and drawn by --plot")
    p.add_argument("--plot", metavar="FILE",
                   help="save the iso-loss / frontier figure; with runs still training, the ladder's "
                        "figure instead: loss against tokens per model size with each forecast's "
                        "interval as a bar, and N_opt against compute with its interval (needs matplotlib)")
    p.add_argument("--json", action="store_true",
                   help="print only one JSON object with the law's parameters, each a number or "
                        "{value, low, high} (with --holdout, also \"holdout\": [{run, N, D, loss, "
                        "predicted}]; with runs still training, \"forecast_points\")")
    p.add_argument("--save", metavar="FIT.json", help="save the fit for `scaling-callback plan` (and --since)")
    p.add_argument("--since", metavar="PREVIOUS.json",
                   help="a fit saved earlier with --save (e.g. the same ladder's last fit): print each "
                        "budget's compute-optimal N, D then and now and the factor they moved by "
                        "(in --json: \"since\")")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..core.crossrun import ScalingLawError, fit_scaling_law, law_class
    from ..core.crossrun.decision import moved_since
    from ..core.crossrun.inputs import BOOTSTRAP_RANGE, MAX_BOOTSTRAP

    if not 0 <= args.bootstrap <= MAX_BOOTSTRAP:  # said before any run is read
        return fail("fit", f"--bootstrap must be {BOOTSTRAP_RANGE}, got {args.bootstrap}")
    if args.upto_fraction is not None and (args.runs is None or not 0.0 < args.upto_fraction <= 1.0):
        return fail("fit", f"--upto-fraction must be a number in (0, 1] and needs --runs, got {args.upto_fraction}")
    try:
        previous = _read_previous(args.since)
        points, U, held = _read_points(args)
        k = len(law_class(args.form).names)  # the law's parameters (E, A, B, alpha, beta / N_c, D_c, ...)
        if len(points.N) == k:  # fewer: fit_scaling_law says how many it needs
            raise ScalingLawError(f"{len(points.N)} points for the {k} parameters of the {args.form} law: the law "
                                  "passes through every point, an exact fit that says nothing about the next run; "
                                  f"give at least {MIN_POINTS_PER_PARAMETER * k} runs")
        forecasts = points.n_forecast > 0
        fit = fit_scaling_law(points.N, points.D, points.loss, form=args.form,
                              n_bootstrap=args.bootstrap, confidence=args.confidence, seed=args.seed,
                              unique_tokens=U if args.form == "muennighoff" else None,
                              loss_low=points.low if forecasts else None, loss_high=points.high if forecasts else None)
        budgets = args.compute or _default_budgets(fit.compute_range)
        allocations, no_table = [], ""
        try:
            allocations = [fit.compute_optimal(c) for c in budgets]
        except ScalingLawError as exc:  # the law fits but has no allocation: say so, keep the law
            no_table = str(exc)
        predicted = [] if held is None else _predict(fit, *held)
        moved = [] if previous is None else [moved_since(previous, a) for a in allocations]
        if args.save:
            fit.save(args.save)
        if args.plot:
            _plot(args.plot, fit, points, held, predicted, budgets[-1])
    except (ScalingLawError, OSError, ImportError) as exc:
        return fail("fit", str(exc))
    held = None if held is None else held[0]
    for warning in _fit_warnings(fit):
        print(f"WARNING: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(_json_object(fit, points, allocations, held, predicted, moved)))
        return 0
    print(_describe_fit(fit))
    print()
    print(_allocation_table(fit, allocations) if allocations else f"no compute-optimal table: {no_table}")
    if forecasts and allocations:
        print()
        print(_decision_lines(fit, allocations))
    if moved:
        print()
        print(_moved_lines(args.since, moved))
    if held is not None:
        print()
        print(_holdout_table(fit, held, predicted))
    saved = [f"{what}: {path}" for what, path in (("saved fit", args.save), ("saved figure", args.plot)) if path]
    if saved:
        print("\n" + "\n".join(saved))
    return 0


def _plot(path, fit, points, held, predicted, budget) -> None:
    """--plot: the ladder figure (forecast points with their intervals as bars, N_opt at the
    largest budget) when some points are forecasts, else the iso-loss / frontier figure."""
    from ..plots import plot_fit, plot_ladder

    if points.n_forecast:
        plot_ladder(fit, points, path, budget=budget,
                    holdout=None if held is None else (held[0].N, held[0].D, held[0].truth, predicted))
        return
    done = None if held is None else np.isfinite(held[0].truth)
    plot_fit(fit, points.N, points.D, points.loss, path,
             holdout=None if held is None else (held[0].N[done], held[0].D[done], held[0].truth[done]))


def _json_object(fit, points, allocations, held, predicted, moved) -> dict:
    """The --json object: the law's parameters, and where they apply the decision (runs still
    training), the held-out predictions and the moves since the earlier fit."""
    obj = {name: est.as_json() for name, est in fit.parameters.items()}
    if points.n_forecast:
        obj["forecast_points"] = points.n_forecast
        obj["decision"] = [{"compute": d.allocation.compute, "N_opt": d.allocation.N.as_json(),
                            "D_opt": d.allocation.D.as_json(), "n_opt_may_move": d.move_factor,
                            "decided": d.decided} for d in _decisions(fit, allocations)]
    if held is not None:
        obj["holdout"] = [{"run": name, "N": float(n), "D": float(d),
                           "loss": float(y) if np.isfinite(y) else None, "predicted": e.as_json()}
                          for name, n, d, y, e in zip(held.names, held.N, held.D, held.truth, predicted)]
    if moved:
        obj["since"] = [{"compute": m.compute, "N_opt_then": m.then.N.value, "N_opt_now": m.now.N.value,
                         "D_opt_then": m.then.D.value, "D_opt_now": m.now.D.value,
                         "N_opt_factor": m.n_factor, "D_opt_factor": m.d_factor} for m in moved]
    return obj


def _read_previous(path):
    """The fit saved at `path` for --since (None without it), read before any run."""
    if path is None:
        return None
    from ..core.crossrun import ScalingLawError, ScalingLawFit

    try:
        return ScalingLawFit.load(path)
    except OSError as exc:
        raise ScalingLawError(f"--since {path}: {exc.strerror or exc}") from None
    except ScalingLawError as exc:
        raise ScalingLawError(f"--since {path}: {exc}") from None


def _moved_lines(path, moved) -> str:
    """Each budget's N_opt and D_opt under the earlier fit and now, and the factor moved."""
    lines = [f"since {path}: compute-optimal N, D then -> now (factor moved)"]
    for m in moved:
        lines.append(f"  {num(m.compute)} FLOPs: N_opt {num(m.then.N.value)} -> {num(m.now.N.value)} "
                     f"({m.n_factor:.3g}x), D_opt {num(m.then.D.value)} -> {num(m.now.D.value)} ({m.d_factor:.3g}x)")
    return "\n".join(lines)


def _read_points(args):
    """(points to fit as LadderPoints, their unique tokens U or None, (held-out LadderPoints, U)
    or None), saying what was read."""
    from ..core.crossrun import ScalingLawError
    from ..io import read_run_points
    from ..ladder import LadderPoints, ladder_from_curves, read_ladder

    if args.runs is not None:
        parts = [ladder_from_curves(path, args.runs, args.upto_fraction) for path in args.runs_paths]
        points = LadderPoints(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("N", "D", "loss", "low", "high")),
                              sum((p.names for p in parts), ()), np.concatenate([p.truth for p in parts]),
                              sum((p.notes for p in parts), ()))
        unknown = [r for r in args.holdout if r not in points.names]
        if unknown:
            raise ScalingLawError(f"--holdout {unknown[0]}: not a run of {', '.join(args.runs_paths)} with a size "
                                  f"in {args.runs}")
        out = np.isin(points.names, args.holdout)
        points, held = points.pick(~out), (points.pick(out), None) if out.any() else None
        print(f"read {len(points.names) + (0 if held is None else len(held[0].names))} run(s) of "
              f"{', '.join(args.runs_paths)}: {points.n_forecast} still training (forecast at their planned ends)"
              + (f"; left out {len(points.notes)} without a size or tokens per step" if points.notes else ""),
              file=sys.stderr if args.json else sys.stdout)
        return points, None, held
    finals = read_run_points(args.runs_paths, loss_tag=args.tag, loss=args.loss)
    _say_what_was_read(finals, to_stderr=args.json)
    points = read_ladder(args.runs_paths, loss_tag=args.tag, loss=args.loss)
    if points.n_forecast:
        print(f"{points.n_forecast} run(s) still training: each is its forecast at its planned end",
              file=sys.stderr if args.json else sys.stdout)
    held = None
    if args.holdout:
        h = read_run_points(args.holdout, loss_tag=args.tag, loss=args.loss)
        nan = np.full(len(h.N), np.nan)
        held = (LadderPoints(h.N, h.D, h.loss, nan, nan, h.sources, h.loss), h.U)
    return points, finals.U, held


def _decisions(fit, allocations):
    from ..core.crossrun.decision import ladder_decision

    return [ladder_decision(fit, a.compute) for a in allocations]


def _decision_lines(fit, allocations) -> str:
    """Whether the ladder has decided each budget's N_opt (core.crossrun.decision's rule)."""
    from ..core.crossrun.decision import DECIDED_FACTOR

    lines = [f"{fit.n_forecast} point(s) are forecasts of runs still training; the ladder has decided a budget "
             f"when finishing them cannot move N_opt by more than {DECIDED_FACTOR:g}x ({level(fit)}):"]
    for d in _decisions(fit, allocations):
        lines.append(f"  {num(d.allocation.compute)} FLOPs: N_opt {estimate(d.allocation.N)} may still move "
                     f"{d.move_factor:.3g}x: {'decided' if d.decided else 'not decided'}")
    return "\n".join(lines)


def _predict(fit, held, U):
    """The fit's expected loss, with its interval, at each held-out run's N, D (and U)."""
    return [fit.expected_loss(float(n), float(d), None if U is None or fit.form != "muennighoff" else float(u))
            for n, d, u in zip(held.N, held.D, held.N if U is None else U)]


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
    for src, n, d, y, e in zip(held.names, held.N, held.D, held.truth, predicted):
        if not np.isfinite(y):
            rows.append((src, num(n), num(d), num(6.0 * n * d), "training", estimate(e), "", ""))
            continue
        err = (e.value - y) / y
        errors.append(abs(err))
        ok = e.low is not None and e.low <= y <= e.high
        inside += ok
        rows.append((src, num(n), num(d), num(6.0 * n * d), num(y), estimate(e), f"{100 * err:+.2f}%",
                     "" if e.low is None else ("yes" if ok else "no")))
    if not errors:
        return table(head, rows) + "\nno held-out run has finished: nothing to score the predictions on"
    summary = f"median |error| {100 * float(np.median(errors)):.2f}% over {len(errors)} held-out runs"
    if predicted and predicted[0].low is not None:
        summary += f"; the {level(fit)} interval covers {inside} of {len(errors)}"
    return table(head, rows) + "\n" + summary


def _default_budgets(compute_range):
    low, high = compute_range
    return [10.0 ** k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 2)]
