"""The ladder before it finishes (issue 28): fit the scaling law on forecasts of runs cut at
20/40/60/80% of their planned length and compare it with the law fitted on the finished runs.

    python3 benchmarks/ladder_early.py [--cutoffs 0.2 0.4 0.6 0.8] [--bootstrap 200]
    python3 benchmarks/ladder_early.py --write-docs   # the table into docs/crossrun.md (~160 s)
    python3 benchmarks/ladder_early.py --check-docs   # does docs/crossrun.md's table match the code? (~2 s)
    python3 benchmarks/ladder_early.py --plot docs/img/ladder_early.png [--plot-ladder NAME] [--plot-cut 0.4]

A ladder is several model sizes on one recipe (data/curves/runs.csv: numeric params, tokens per
step, one schedule family). The largest-compute run of each is held out (the "big run"); the
rest are fitted at each cut-off (each run its forecast at its planned end, `ladder.ladder_from_curves`)
and finished. Columns: the held-out run's predicted final loss against the truth, N_opt at a
budget 10x the ladder's largest against the finished ladder's, whether the 95% intervals cover
the truth and the finished N_opt, alpha and beta, and whether the ladder says it has decided.
Sources that are not ladders are named with why.

With --write-docs the table and its summary are written into docs/crossrun.md between the
markers <!-- ladder_early:table -->, and what they are rendered from (with each cut ladder's
forecast points) into docs/data/ladder_early.json; --check-docs renders the block again from that
file and recomputes one ladder at one cut-off (its forecasts and the point fits, without
bootstrap) with the code as it is now (tests/test_doc_tables.py).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from dataclasses import dataclass

import numpy as np

from doc_tables import differences, dumps, read_data, report_check, stale_blocks, write_block, write_data
from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law
from scaling_callback.core.crossrun.decision import ladder_decision
from scaling_callback.ladder import LadderPoints, ladder_from_curves
from scaling_callback.runs import CURVES_DIR

RUNS_CSV = os.path.join(CURVES_DIR, "runs.csv")
# (name, curves file, run ids of one recipe): lr_scheduling's "_sl" ladders are its scaling-law
# runs, WSD with a 20% linear cool-down, several sizes each at 2-3 lengths (runs.csv's schedule column)
LADDERS = (
    ("lr_scheduling owt2", "lr_scheduling.csv", r"fsp_owt\d+m_wsd0\.2l_lr[0-9.]+_T\d+_sl"),
    ("lr_scheduling slimpajama", "lr_scheduling.csv", r"fsp_sp\d+m_wsd0\.2l_lr[0-9.]+_T\d+_sl"),
)
NOT_LADDERS = (
    ("gemstones", "every run has the same planned length (83,475 steps): D is not varied at the planned ends"),
    ("multipower_law", "no tokens per step, and 3 sizes x 2 lengths a recipe: 5 points for 5 parameters "
                       "once the largest is held out"),
)
BUDGET_FACTOR = 10.0  # issue 28: N_opt at a budget 10x the ladder's largest run
DOCS_CUTOFFS = (0.2, 0.4, 0.6, 0.8)  # issue 28: the ladder cut at 20/40/60/80% of its planned length
DOCS_BOOTSTRAP = 200  # resamples of the docs' intervals: the whole table in ~160 s
PAGE, DATA_NAME, BLOCK = "crossrun.md", "ladder_early", "ladder_early:table"
# what --check-docs recomputes, without bootstrap (the forecasts and two point fits: ~2 s; with
# the recorded 200 resamples one cut-off alone takes ~40 s)
RECHECKED = ("lr_scheduling owt2", 0.4)
RECHECK_RTOL = 1e-6  # recorded and recomputed numbers agree to this (the same code, maybe another BLAS)
HEADER = ("| ladder | cut at | runs fitted | held-out final loss | predicted (95%) | error | covered | "
          "N_opt / finished | its 95% interval | covered | alpha (cut / finished) | beta (cut / finished) | decided |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|")


@dataclass(frozen=True)
class Ladder:
    """One ladder finished: its largest-compute run is held out, the rest are fitted."""

    name: str
    path: str
    ids: frozenset
    full: LadderPoints

    @property
    def big(self) -> int:
        return int(np.argmax(self.full.N * self.full.D))

    @property
    def keep(self) -> np.ndarray:
        return np.arange(len(self.full.N)) != self.big

    @property
    def budget(self) -> float:
        return BUDGET_FACTOR * 6.0 * float(np.max(self.full.N * self.full.D))

    @property
    def held_out(self):
        """(N, D, final loss) of the held-out run."""
        return float(self.full.N[self.big]), float(self.full.D[self.big]), float(self.full.truth[self.big])

    def cut(self, fraction) -> LadderPoints:
        """The fitted runs, each cut at `fraction` of its planned length."""
        return ladder_from_curves(self.path, RUNS_CSV, upto_fraction=fraction, only=self.ids).pick(self.keep)


def ladder_of(name) -> Ladder:
    (curves, pattern), = [(c, p) for n, c, p in LADDERS if n == name]
    with open(RUNS_CSV, newline="") as fh:
        ids = frozenset(r["run_id"] for r in csv.DictReader(fh) if re.fullmatch(pattern, r["run_id"]))
    path = os.path.join(CURVES_DIR, curves)
    return Ladder(name, path, ids, ladder_from_curves(path, RUNS_CSV, only=ids))


def fit_of(points, bootstrap, forecasts):
    return fit_scaling_law(points.N, points.D, points.loss, n_bootstrap=bootstrap, seed=0,
                           loss_low=points.low if forecasts else None, loss_high=points.high if forecasts else None)


def as_recorded(value):
    """`value` as docs/data/ladder_early.json holds it (lists, NaN as null)."""
    return json.loads(dumps({"v": value}))["v"]


def points_record(points: LadderPoints) -> dict:
    """The points a cut ladder is fitted on (low/high null for a finished run)."""
    return as_recorded({"runs": list(points.names), "N": points.N.tolist(), "D": points.D.tolist(),
                        "loss": points.loss.tolist(), "low": points.low.tolist(), "high": points.high.tolist()})


def cut_row(ladder: Ladder, cut, final, bootstrap) -> dict:
    """One row of the table: `ladder` cut at `cut` against `final`, the fit of it finished."""
    points = ladder.cut(cut)
    row = {"ladder": ladder.name, "cut": cut, "runs": len(points.N), "points": points_record(points)}
    try:
        fit = fit_of(points, bootstrap, True)
    except (ScalingLawError, np.linalg.LinAlgError) as exc:  # LinAlgError: robust.huber_newton, reported
        return {**row, "failure": f"no fit: {type(exc).__name__}: {exc}"}
    N, D, truth = ladder.held_out
    pred = fit.expected_loss(N, D)
    decision = ladder_decision(fit, ladder.budget)
    n_opt = decision.allocation.N
    return {**row, "truth": truth, "predicted": [pred.value, pred.low, pred.high],
            "n_opt": [n_opt.value, n_opt.low, n_opt.high], "n_final": final.compute_optimal(ladder.budget).N.value,
            "alpha": [fit.law.alpha, final.law.alpha], "beta": [fit.law.beta, final.law.beta],
            "decided": bool(decision.decided)}


def compare(name, cutoffs, bootstrap) -> list:
    """Rows of the table for one ladder."""
    ladder = ladder_of(name)
    try:
        final = fit_of(ladder.full.pick(ladder.keep), bootstrap, False)
    except (ScalingLawError, np.linalg.LinAlgError) as exc:
        return [{"ladder": name, "cut": 1.0, "runs": int(ladder.keep.sum()),
                 "failure": f"no fit of the finished runs: {type(exc).__name__}: {exc}"}]
    return [as_recorded(cut_row(ladder, cut, final, bootstrap)) for cut in cutoffs]


def plot_one(name, cut, bootstrap, path):
    """Draw one ladder cut at `cut` against the same ladder finished (plots.plot_ladder): the
    largest-compute run held out, N_opt at 10x the ladder's largest compute."""
    from scaling_callback.plots import plot_ladder

    ladder = ladder_of(name)
    points = ladder.cut(cut)
    fit, final = fit_of(points, bootstrap, True), fit_of(ladder.full.pick(ladder.keep), bootstrap, False)
    N, D, truth = ladder.held_out
    plot_ladder(fit, points, path, final_fit=final, budget=ladder.budget,
                holdout=([N], [D], [truth], [fit.expected_loss(N, D)]),
                title=f"{name} ladder, every run cut at {cut:.0%} of its planned length, against the same runs "
                      f"finished ({bootstrap} bootstrap resamples, 95% intervals)")
    print(f"saved figure: {path}")


def covers(low, value, high) -> str:
    return "n/a" if low is None or high is None else ("yes" if low <= value <= high else "no")


def ratio_interval(low, high) -> str:
    """An N_opt interval over the finished N_opt, 3 significant digits (scientific where they
    span orders of magnitude: [1.2e-05, 4.7e+42]x)."""
    return "n/a" if low is None or high is None else f"[{low:.3g}, {high:.3g}]x"


def row_text(r) -> str:
    if "failure" in r:
        return f"| {r['ladder']} | {r['cut']:.0%} | {r['runs']} | {r['failure']} |"
    truth, (pred, low, high), n_final = r["truth"], r["predicted"], r["n_final"]
    n_opt, n_low, n_high = (None if x is None else x / n_final for x in r["n_opt"])
    loss = f"{pred:.4f}" + ("" if low is None else f" [{low:.4f}, {high:.4f}]")
    return (f"| {r['ladder']} | {r['cut']:.0%} | {r['runs']} | {truth:.4f} | {loss} | "
            f"{100 * (pred - truth) / truth:+.2f}% | {covers(low, truth, high)} | {n_opt:.2f}x | "
            f"{ratio_interval(n_low, n_high)} | {covers(r['n_opt'][1], n_final, r['n_opt'][2])} | "
            f"{r['alpha'][0]:.3f} / {r['alpha'][1]:.3f} | {r['beta'][0]:.3f} / {r['beta'][1]:.3f} | "
            f"{'yes' if r['decided'] else 'no'} |")


def summary(rows, cut) -> str:
    done = [r for r in rows if "failure" not in r and abs(r["cut"] - cut) < 1e-9]
    if not done:
        return f"at {cut:.0%}: no fit"
    errors = [abs(r["predicted"][0] - r["truth"]) / r["truth"] for r in done]
    ratios = [r["n_opt"][0] / r["n_final"] for r in done]
    cover = sum(covers(r["predicted"][1], r["truth"], r["predicted"][2]) == "yes" for r in done)
    cover += sum(covers(r["n_opt"][1], r["n_final"], r["n_opt"][2]) == "yes" for r in done)
    return (f"at {cut:.0%}: median |error| of the held-out run {100 * np.median(errors):.2f}%, N_opt within "
            f"{max(max(x, 1 / x) for x in ratios):.2f}x of the finished ladder's (worst ladder), intervals cover "
            f"{cover} of {2 * len(done)} (loss and N_opt)")


def table(rows, cutoffs, bootstrap) -> str:
    """The table, a line per cut-off and the sources that are not ladders: what --write-docs
    writes into docs/crossrun.md."""
    lines = [HEADER, *map(row_text, rows), ""]
    lines += [f"- {summary(rows, cut)}" for cut in cutoffs]
    lines += [f"- not a ladder here: {name}: {why}" for name, why in NOT_LADDERS]
    lines.append(f"- intervals from {bootstrap} bootstrap resamples")
    return "\n".join(lines)


def write_docs(rows) -> None:
    data = {"n_bootstrap": DOCS_BOOTSTRAP, "cutoffs": list(DOCS_CUTOFFS), "budget_factor": BUDGET_FACTOR,
            "rows": rows}
    print(f"wrote {write_data(DATA_NAME, data)}")
    write_block(PAGE, BLOCK, table(rows, DOCS_CUTOFFS, DOCS_BOOTSTRAP))
    print(f"wrote the block {BLOCK} of docs/{PAGE}")


def point_part(row) -> dict:
    """What a fit without bootstrap reproduces of a row: the forecasts and the point estimates."""
    if "failure" in row:
        return {k: row.get(k) for k in ("runs", "points", "failure")}  # a finished fit that failed has no points
    keys = ("runs", "points", "truth", "n_final", "alpha", "beta")
    return {**{k: row[k] for k in keys}, "predicted": row["predicted"][0], "n_opt": row["n_opt"][0]}


def check_docs() -> int:
    """0 when docs/crossrun.md's ladder table is the one rendered from docs/data/ladder_early.json
    and RECHECKED's forecasts and point fits are what the code computes now; 1 otherwise."""
    data = read_data(DATA_NAME)
    wrong = stale_blocks(PAGE, {BLOCK: table(data["rows"], data["cutoffs"], data["n_bootstrap"])})
    name, cut = RECHECKED
    ladder = ladder_of(name)
    now = as_recorded(cut_row(ladder, cut, fit_of(ladder.full.pick(ladder.keep), 0, False), 0))
    recorded = next(r for r in data["rows"] if (r["ladder"], r["cut"]) == RECHECKED)
    wrong += differences(f"{name} at {cut:.0%}", point_part(recorded), point_part(now), RECHECK_RTOL)
    return report_check(wrong, "ladder_early.py")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cutoffs", type=float, nargs="+", default=list(DOCS_CUTOFFS))
    ap.add_argument("--bootstrap", type=int, default=DOCS_BOOTSTRAP)
    ap.add_argument("--ladders", nargs="+", choices=[n for n, _, _ in LADDERS], help="ladders to run (default: all)")
    ap.add_argument("--plot", metavar="FILE", help="draw one ladder cut at --plot-cut against it finished, and stop")
    ap.add_argument("--plot-ladder", default="lr_scheduling slimpajama", choices=[n for n, _, _ in LADDERS])
    ap.add_argument("--plot-cut", type=float, default=0.4)
    ap.add_argument("--write-docs", action="store_true", help=f"every ladder at {', '.join(map(str, DOCS_CUTOFFS))} "
                    f"with {DOCS_BOOTSTRAP} resamples; write the table into docs/crossrun.md and docs/data")
    ap.add_argument("--check-docs", action="store_true", help="check docs/crossrun.md's ladder table against the code")
    args = ap.parse_args(argv)
    if args.check_docs:
        return check_docs()
    if args.plot:
        return plot_one(args.plot_ladder, args.plot_cut, args.bootstrap, args.plot)
    if args.write_docs and (args.ladders or args.cutoffs != list(DOCS_CUTOFFS) or args.bootstrap != DOCS_BOOTSTRAP):
        ap.error("--write-docs writes every ladder at the default cut-offs and resamples: "
                 "drop --ladders, --cutoffs and --bootstrap")
    start = time.perf_counter()
    rows = [r for name, _, _ in LADDERS if args.ladders is None or name in args.ladders
            for r in compare(name, args.cutoffs, args.bootstrap)]
    print(table(rows, args.cutoffs, args.bootstrap))
    print(f"({time.perf_counter() - start:.0f} s)")
    if args.write_docs:
        write_docs(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
