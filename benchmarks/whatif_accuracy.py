"""How well forecasts under a schedule the run has not taken predict real cool-down branches, and
where the cool-down planner would have started them.

    python3 benchmarks/whatif_accuracy.py                # both sources (one to two minutes)
    python3 benchmarks/whatif_accuracy.py --write-docs   # the same; tables into docs/whatif.md, figure docs/img/whatif.png
    python3 benchmarks/whatif_accuracy.py --check-docs   # do docs/whatif.md's tables match the code? (seconds)
    python3 benchmarks/whatif_accuracy.py --learn        # learn the leave-one-source-out priors anew (minutes)

Branches: the runs of data/curves/lr_scheduling.csv and multipower_law.csv whose planned schedule
ends in a cool-down that starts after MIN_DECAY_START of the run (warmup-stable-decay, two-stage;
a cosine's "decay" starts at its warm-up's end and is not a branch). Their steps before the
cool-down are their constant-rate trunk's (data/curves/README.md). From the trunk seen up to the
branch's decay start d (and up to 75% and 50% of d) each branch's final loss is forecast under the
branch's schedule (`core.whatif.forecast_under`: the alternative's past checked against the run's):
  loso          priors learnt without the branch's source (leave-one-source-out), read from
                docs/data/forecast_accuracy.json (benchmarks/forecast_accuracy.py learns and records
                them; --learn learns them here instead)
  family        the loso priors and family mode (`forecast_under(..., family=)`): the family is the
                other finished branches of the same trunk (`trunk_key`), the branch itself and any
                run whose curve holds the branch's own future left out (`branch_families`); only
                branches with such a family are scored
  in-sample     DEFAULT_PRIORS (learnt from every source, this one included)
  no cool-down  the loso forecast at the branch's end under the trunk's constant rate: what ignoring
                the cool-down would say (the error the what-if must clearly beat)
  trunk         the realised loss of the branch's constant-rate trunk at the branch's end (where the
                trunk ran that far): ignoring the cool-down, without a forecast
Printed per source and cut: median and p90 |forecast − final|/final in %, signed bias, 80% coverage,
median interval width and width over median error.

Planner: branches of one trunk with the same recipe (the same cool-down fraction and shape of
their own run, lr_scheduling's `_T<steps>` siblings) ended at different steps. Seen up to the
earliest branch's decay start, `plan_cooldown` picks among the branches' starts the earliest whose
forecast lies within MIN_DELTA of the longest branch's (the planned run); printed against the
branch that realised the lowest loss, with the compute (steps) the choice saves.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict

import numpy as np

from doc_tables import DOCS, read_data, report_check, stale_blocks, write_block, write_data
from scaling_callback.core.forecast import DEFAULT_PRIORS, learn_family
from scaling_callback.core.whatif import Cooldown, forecast_under, plan_cooldown, planned_cooldown, without_cooldown
from scaling_callback.runs import load_runs

SOURCES = ("lr_scheduling", "multipower_law")
CUTS = (1.0, 0.75, 0.5)  # the trunk seen up to these shares of the branch's decay start
MIN_DECAY_START = 0.15  # a branch's cool-down starts after this share of its run
MIN_DELTA = 0.01  # the planner's loss tolerance (ForecastEarlyStopping's default min_delta)
METHODS = ("loso", "family", "in-sample", "no cool-down", "trunk")
FORECASTS = METHODS[:4]  # the methods that forecast (trunk reads the realised trunk)
BASELINES = ("no cool-down", "trunk")  # methods without an interval
PAGE = "whatif.md"
DATA_NAME = "whatif_accuracy"
FIGURE = os.path.join(DOCS, "img", "whatif.png")
FIGURE_GROUP = "fsp_sp124m_wsd0.2l_lr0.001"  # the planner group drawn in docs/whatif.md
RECOMPUTED = 3  # forecasts of the record recomputed by --check-docs


def branches(sources, max_branches=None):
    """[(run, decay start, recipe)] of the branches of `sources` (at most max_branches a source)."""
    out = []
    for source in sources:
        found = []
        for run in load_runs(source, max_runs=None):
            start, recipe = planned_cooldown(run.lr, run.final_step)
            if start is not None and start >= MIN_DECAY_START * run.final_step:
                found.append((run, int(start), recipe))
        out += found[:max_branches] if max_branches else found
    return out


def loso_priors(sources, learn: bool) -> dict:
    """{source: the priors learnt without it}: recorded by forecast_accuracy.py, or learnt now."""
    from forecast_accuracy import learn_loso, priors_from

    if learn:
        return learn_loso(sources, nats=False)
    recorded = read_data("forecast_accuracy")["loso_priors"]
    return {source: priors_from(recorded[source]) for source in sources}


def one_forecast(run, start, cut, method, priors, family=None):
    """(signed relative error, covered, width / final) of one forecast of the branch's final loss
    (family: the branch's Family for the method "family", learnt under `priors`)."""
    steps, losses = run.curve.observed(cut * start)
    lr = run.lr if method != "no cool-down" else without_cooldown(run.lr, run.final_step)
    fc = forecast_under(steps, losses, lr, target_step=run.final_step, run_lr=run.lr, upto=float(steps[-1]),
                        priors=priors, family=family if method == "family" else None)
    truth = run.final_loss
    if not fc.ok:
        return float(losses[-1] / truth - 1), False, None
    return float(fc.loss / truth - 1), bool(fc.low <= truth <= fc.high), float((fc.high - fc.low) / truth)


def trunk_key(run_id: str):
    """(prefix, suffix) that a branch's constant-rate trunk's id starts and ends with (its planned
    steps between them), or None: lr_scheduling's `<model>_const_<lr>_T<steps><suffix>`,
    multipower_law's `mpl_<size>_constant_<steps>`."""
    m = re.match(r"(fsp_\w+?m)_(?:wsd|2st)[^_]*_(lr[\d.]+)_T\d+(.*)$", run_id)
    if m:
        return f"{m.group(1)}_const_{m.group(2)}_T", m.group(3)
    m = re.match(r"(mpl_\w+?M)_", run_id)
    return (f"{m.group(1)}_constant_", "") if m else None


def trunk_error(run, constants):
    """(trunk loss at the branch's end)/final − 1, or None without a trunk that ran that far."""
    key = trunk_key(run.run_id)
    if key is None:
        return None
    for other in constants:
        rest = other.run_id[len(key[0]):] if other.run_id.startswith(key[0]) else None
        if rest is not None and re.fullmatch(r"\d+" + re.escape(key[1]), rest) and other.final_step >= run.final_step:
            steps, losses = other.curve.observed()
            return float(np.interp(run.final_step, steps, losses) / run.final_loss - 1)
    return None


def holds_future(other, run, start) -> bool:
    """Whether `other`'s curve holds the branch `run`'s own future: the same loss at every step of
    the branch after its decay start `start` that `other` also validated at (a copy of the run)."""
    steps, losses = run.curve.observed()
    theirs = dict(zip(*other.curve.observed()))
    shared = [(theirs[s], y) for s, y in zip(steps, losses) if s > start and s in theirs]
    return bool(shared) and all(np.isclose(a, b, rtol=1e-9, atol=0.0) for a, b in shared)


def branch_families(found, loso) -> dict:
    """{run_id: the Family of the branch, or None}: the other branches of `found` that share its
    trunk (`trunk_key`, the same model), under the loso priors of the source; the branch itself and
    any run holding its future (`holds_future`) left out; None without any such branch."""
    groups = defaultdict(list)
    for run, start, _ in found:
        groups[(run.source, trunk_key(run.run_id))].append((run, start))
    families = {}
    for (source, key), members in groups.items():
        whole = learn_family([r.family_run() for r, _ in members], loso[source])
        for run, start in members:
            others = [r.run_id for r, _ in members if r.run_id != run.run_id and not holds_future(r, run, start)]
            families[run.run_id] = whole.only(others) if key is not None and others else None
    return families


def method_inputs(method, run, loso, families):
    """(priors, family) of one method for one branch."""
    if method == "in-sample":
        return DEFAULT_PRIORS, None
    return loso[run.source], families.get(run.run_id) if method == "family" else None


def score(found, loso, constants=()):
    """[[method, source, cut, error, covered, width, run_id]] of every forecast (and trunk baseline);
    the method "family" only for branches with a family (`branch_families`)."""
    families = branch_families(found, loso)
    rows = []
    for run, start, _ in found:
        trunk = trunk_error(run, constants)
        for cut in CUTS:
            for method in FORECASTS:
                priors, family = method_inputs(method, run, loso, families)
                if method == "family" and family is None:
                    continue
                rows.append([method, run.source, cut, *one_forecast(run, start, cut, method, priors, family),
                             run.run_id])
            if trunk is not None:
                rows.append(["trunk", run.source, cut, trunk, None, None, run.run_id])
    return rows


def constant_runs(sources):
    """The constant-rate runs of `sources` (the trunks)."""
    return [r for r in load_runs(sources, max_runs=None) if planned_cooldown(r.lr, r.final_step)[0] is None]


def accuracy_table(rows, sources) -> str:
    lines = ["| source | trunk seen to | method | branches | median \\|error\\| % | p90 % | bias % | coverage | "
             "width % | width / median error |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for source in sources:
        for cut in CUTS:
            for method in METHODS:
                got = [r for r in rows if r[0] == method and r[1] == source and r[2] == cut]
                if not got:
                    continue
                e = np.array([r[3] for r in got])
                med = 100 * np.median(np.abs(e))
                if method in BASELINES:
                    cov = width = ratio = ""
                else:
                    w = [r[5] for r in got if r[5] is not None]
                    cov = f"{np.mean([r[4] for r in got]):.2f}"
                    width = f"{100 * np.median(w):.2f}" if w else "n/a"
                    ratio = f"{100 * np.median(w) / med:.1f}" if w and med > 0 else "n/a"
                lines.append(f"| {source} | {cut:.0%} of d | {method} | {len(got)} | {med:.2f} | "
                             f"{100 * np.percentile(np.abs(e), 90):.2f} | {100 * np.median(e):+.2f} | {cov} | {width} | {ratio} |")
    return "\n".join(lines)


def planner_groups(found):
    """{trunk and recipe: [(run, start)] by start} of lr_scheduling's siblings (2 or more)."""
    groups = defaultdict(list)
    for run, start, _ in found:
        if run.source == "lr_scheduling":
            groups[re.sub(r"_T\d+", "", run.run_id)].append((run, start))
    return {k: sorted(v, key=lambda rs: rs[1]) for k, v in sorted(groups.items()) if len(v) >= 2}


def fraction_recipe(run, start) -> Cooldown:
    """The branch's recipe as a fraction of its run (so siblings of other lengths share it)."""
    _, recipe = planned_cooldown(run.lr, run.final_step)
    return Cooldown(1.0 - start / run.final_step, recipe.shape, recipe.final_fraction)


def plan_group(members, priors):
    """The planner on one group: [group row] and the plan."""
    planned, first = members[-1][0], members[0][1]
    steps, losses = planned.curve.observed(first)
    plan = plan_cooldown(steps, losses, planned_lr=planned.lr, planned_end=planned.final_step,
                         recipe=fraction_recipe(*members[-1]), min_delta=MIN_DELTA, starts=[s for _, s in members],
                         priors=priors)
    chosen = plan.recommended or plan.reference
    by_start = {s: r for r, s in members}
    picked = by_start.get(chosen.start, planned)
    best = min((r for r, _ in members), key=lambda r: r.final_loss)
    return [[r.final_step for r, _ in members], first, picked.final_step, best.final_step,
            picked.final_loss - best.final_loss, picked.final_loss - planned.final_loss,
            1.0 - picked.final_step / planned.final_step], plan


def planner_rows(found, loso):
    return {name: plan_group(members, loso["lr_scheduling"])[0] for name, members in planner_groups(found).items()}


def planner_table(groups) -> str:
    lines = ["| branches of (ends) | seen to | planner's end | best end in hindsight | realised − best | "
             "realised − planned | compute saved |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, (ends, first, picked, best, vs_best, vs_planned, saved) in groups.items():
        lines.append(f"| {name} ({', '.join(str(e) for e in ends)}) | {first} | {picked} | {best} | {vs_best:+.4f} | "
                     f"{vs_planned:+.4f} | {saved:.0%} |")
    within = sum(g[4] <= MIN_DELTA for g in groups.values())
    worst = max((g[5] for g in groups.values()), default=float("nan"))
    saved = np.mean([g[6] for g in groups.values()]) if groups else float("nan")
    lines.append(f"\nWithin min_delta = {MIN_DELTA} of the best branch in {within} of {len(groups)} groups; worst "
                 f"realised − planned {worst:+.4f} (limit {2 * MIN_DELTA}); mean compute saved {saved:.0%}.")
    return "\n".join(lines)


def draw_figure(found, loso) -> None:
    from scaling_callback.whatif_plot import plot_whatif

    members = planner_groups(found)[FIGURE_GROUP]
    _, plan = plan_group(members, loso["lr_scheduling"])
    plot_whatif(plan.options, FIGURE, reference=plan.reference, realised=[(r.final_step, r.final_loss) for r, _ in members],
                title=f"{FIGURE_GROUP}: trunk seen to step {members[0][1]}, 20% linear cool-downs")


def docs_tables(data) -> dict:
    return {"whatif_accuracy:branches": accuracy_table(data["forecasts"], data["sources"]),
            "whatif_accuracy:planner": planner_table(data["planner"])}


def check_docs() -> int:
    """0 when docs/whatif.md's tables are those rendered from the record and a few recorded
    forecasts are what the code forecasts now."""
    data = read_data(DATA_NAME)
    wrong = stale_blocks(PAGE, docs_tables(data))
    from forecast_accuracy import priors_from

    found = branches(data["sources"])
    runs = {r.run_id: (r, s) for r, s, _ in found}
    loso = {src: priors_from(p) for src, p in read_data("forecast_accuracy")["loso_priors"].items()}
    rows = data["forecasts"][:RECOMPUTED]
    if not any(r[0] == "family" for r in rows):  # one family forecast at least
        rows += [r for r in data["forecasts"] if r[0] == "family"][:1]
    for method, source, cut, error, covered, width, run_id in rows:
        run, start = runs[run_id]
        key = trunk_key(run_id)  # the family of the branch's trunk alone (its replays only)
        families = branch_families([b for b in found if b[0].source == source and trunk_key(b[0].run_id) == key], loso)
        priors, family = method_inputs(method, run, loso, families)
        now = one_forecast(run, start, cut, method, priors, family)
        if not np.isclose(now[0], error, rtol=1e-9, atol=1e-12) or now[1] != covered:
            wrong.append(f"{method} {run_id} at {cut:.0%} of d: recorded {(error, covered, width)}, now {now}")
    return report_check(wrong, "whatif_accuracy.py")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--max-branches", type=int, default=None, metavar="K", help="at most K branches a source")
    ap.add_argument("--learn", action="store_true", help="learn the loso priors here (minutes) instead of reading them")
    ap.add_argument("--write-docs", action="store_true", help="write docs/whatif.md's tables, the record and the figure")
    ap.add_argument("--check-docs", action="store_true", help="check docs/whatif.md's tables against the record")
    args = ap.parse_args(argv)
    if args.check_docs:
        return check_docs()
    if args.write_docs and (args.max_branches or list(args.sources) != list(SOURCES)):
        ap.error("--write-docs writes the default run's tables: no --sources or --max-branches")
    t0 = time.perf_counter()
    found = branches(args.sources, args.max_branches)
    loso = loso_priors(args.sources, args.learn)
    data = {"columns": ["method", "source", "cut", "error", "covered", "width", "run_id"],
            "forecasts": score(found, loso, constant_runs(args.sources)), "planner": planner_rows(found, loso), "sources": list(args.sources)}
    print(f"{len(found)} branches: " + ", ".join(f"{s} {sum(r.source == s for r, _, _ in found)}" for s in args.sources))
    print("\nbranch forecasts from the trunk seen up to a share of the decay start d:")
    print(accuracy_table(data["forecasts"], args.sources))
    print("\nplanner (lr_scheduling siblings):")
    print(planner_table(data["planner"]))
    print(f"\n[{time.perf_counter() - t0:.0f} s in all]")
    if args.write_docs:
        print(f"wrote {write_data(DATA_NAME, data)}")
        for name, table in docs_tables(data).items():
            write_block(PAGE, name, table)
        draw_figure(found, loso)
        print(f"wrote the tables into docs/{PAGE} and {FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
