"""How well `scaling_callback.forecast` predicts the final validation loss of runs it has not seen.

    python3 benchmarks/forecast_accuracy.py [--sources SOURCE ...] [--no-loso] [--no-gate] [--all-runs]
    python3 benchmarks/forecast_accuracy.py --family [--family-size K]   # family mode (leave one run out)
    python3 benchmarks/forecast_accuracy.py --write-docs   # the full run; its tables into docs/forecast.md
    python3 benchmarks/forecast_accuracy.py --check-docs   # do docs/forecast.md's tables match the code? (seconds)

For every development run (scaling_callback.runs: six sources, at most MAX_RUNS runs each,
thinned deterministically) and cutoffs 20/40/60/80% of its planned steps, the forecaster sees
the validation losses up to the cutoff (and the planned learning rate of the whole run) and
predicts the loss at the planned end. Per source and cutoff it prints the median and p90 of
|forecast − final| / final, the signed bias (median of (forecast − final) / final) and the 80%
interval's coverage, for
  power     the saturating power law in steps (the baseline of ../shared/tools/score_forecasts.py)
  in-sample forecast() with DEFAULT_PRIORS (learnt from every source, this one included)
  loso      forecast() with priors learnt by scaling_callback.core.forecast.learning WITHOUT the
            source being scored (leave-one-source-out: priors, kernel and interval all learnt with
            the source held out; the number that counts for runs unlike the development set)
Then the share of the forecasts (loso, or in-sample with --no-loso) made by the log-linear and
overfitting laws or not made at all, the coverage and bias of forecasts made before and after a
schedule's decay began, the gate replay (benchmarks/gate_replay.py) and the time
per forecast() call.

With --write-docs the tables are also written into docs/forecast.md between their markers
(<!-- forecast_accuracy:... -->) and every scored forecast, the gate replay and the priors
learnt without each source into docs/data/forecast_accuracy.json; --check-docs renders the
tables again from that file and recomputes a few of its forecasts (tests/test_doc_tables.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from typing import NamedTuple, Optional

import numpy as np

from doc_tables import read_data, report_check, stale_blocks, write_block, write_data
from gate_replay import gate_defaults, print_replay, replay, replay_all, replay_table
from scaling_callback.core.forecast import (DEFAULT_PRIORS, DropPrior, Family, ForecastPriors, forecast)
from scaling_callback.core.forecast.family import FAMILY_PRIOR_RUNS
from scaling_callback.core.forecast.law import decay_fraction
from scaling_callback.core.forecast.learning import learn_priors, run_schedule, start_priors
from scaling_callback.core.robust import huber_fit
from scaling_callback.runs import CUTOFFS, MAX_RUNS, SOURCES, forecast_points, load_runs

PAGE = "forecast.md"
DATA_NAME = "forecast_accuracy"
BLOCKS = ("forecast_accuracy:loso", "forecast_accuracy:family", "forecast_accuracy:decay", "forecast_accuracy:gate")


def baseline_power(steps, losses, run):
    """L = E + A·(s/T)^(−α) fitted to the points after 2% of the run, as
    ../shared/tools/score_forecasts.py fits it (soft-L1, scale 0.01, on log residuals, from the
    same starts and bounds); the last loss with fewer than 4 points."""
    T = run.final_step
    keep = steps >= 0.02 * T
    s, y = steps[keep].astype(float), losses[keep]
    if len(s) < 4:
        return losses[-1]

    def law(p, x):
        return p[0] + p[1] * (x / T) ** (-p[2])

    fit = huber_fit(lambda p: np.log(law(p, s)) - np.log(y),
                    [[y.min() * 0.8, (y[0] - y.min()) * 0.1 + 1e-3, 0.5], [y.min() * 0.5, 0.5, 0.2],
                     [y.min() * 0.95, 0.1, 1.0]],
                    [0, 0, 0.01], [y.min(), 100, 3], delta=0.01, loss="soft_l1")
    return law(fit.params, T) if fit is not None else losses[-1]


def decay_seen(run, step) -> Optional[bool]:
    """Whether the planned decay had begun by `step` (the start `law.decay_fraction` finds: 2%
    below the peak); None when the schedule never decays before the planned end (or none is given)."""
    if run.lr is None:
        return None
    T = run.final_step
    f = decay_fraction(run_schedule(run), T)
    return None if f == 0.0 else bool(T * (1.0 - f) <= step)


class Scored(NamedTuple):
    """One scored forecast: signed relative error, whether the 80% interval held the final (None
    without an interval), its width and interval score (Gneiting & Raftery 2007, sec. 6.2: width
    + (2/α)·miss, α = 0.2; both per unit of the final), whether the decay had begun at the cutoff
    (True, False, None without a decay) and the run."""

    error: float
    covered: Optional[bool]
    width: Optional[float]
    score: Optional[float]
    seen: Optional[bool]
    run_id: str


ALPHA = 0.2  # the interval's miss probability: 80% intervals


def interval_score(low, high, truth) -> float:
    """(high − low + (2/α)·(distance of the truth outside [low, high]))/truth (Gneiting & Raftery 2007, eq. 43)."""
    miss = max(low - truth, 0.0) + max(truth - high, 0.0)
    return ((high - low) + (2.0 / ALPHA) * miss) / truth


def scored(guess, low, high, truth, seen, run_id) -> Scored:
    if low is None:
        return Scored(guess / truth - 1, None, None, None, seen, run_id)
    return Scored(guess / truth - 1, bool(low <= truth <= high), (high - low) / truth,
                  interval_score(low, high, truth), seen, run_id)


def naive_power(steps, losses, run):
    """(forecast, low, high) of the power-law baseline with a naive interval: ± the improvement it
    still forecasts beyond the last loss (no other baseline says how sure it is)."""
    guess = baseline_power(steps, losses, run)
    d = abs(losses[-1] - guess)
    return guess, guess - d, guess + d


def nearest_runs(family: Family, run_id: str, k: int) -> Family:
    """The k runs of `family` nearest `run_id` in run-id order (a family of k earlier or later
    versions of a recipe: ids sort by size, schedule and length in data/curves)."""
    ids = sorted([r.run_id for r in family.runs] + [run_id])
    at = ids.index(run_id)
    keep = sorted((i for i in range(len(ids)) if i != at), key=lambda i: (abs(i - at), i))[:k]
    return family.only(ids[i] for i in keep)


def score(runs, priors_for, families=None, family_size=None):
    """{(method, source, cutoff): [Scored]}, fit times, and {(method, source, cutoff): [the law of each
    forecast]}. families: {source: Family} for the method "family" (each run's own left out; only
    the `family_size` nearest in run-id order when given)."""
    out, seconds, laws = {}, {}, {}
    for run, cut, steps, losses in forecast_points(runs):
        seen = decay_seen(run, steps[-1])
        truth = run.final_loss
        out.setdefault(("power", run.source, cut), []).append(scored(*naive_power(steps, losses, run), truth, seen,
                                                                     run.run_id))
        methods = dict(priors_for(run.source))
        if families and run.source in families:
            methods["family"] = families[run.source].without(run.run_id)
            if family_size:
                methods["family"] = nearest_runs(methods["family"], run.run_id, family_size)
        for method, priors in methods.items():
            t0 = time.perf_counter()
            if method == "family":
                fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, family=priors)
            else:
                fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
            seconds.setdefault("with a family" if method == "family" else "no family", []).append(
                time.perf_counter() - t0)
            if fc.ok:
                got = scored(fc.loss, fc.low, fc.high, truth, seen, run.run_id)
            else:  # no forecast: the last loss, not covered
                got = Scored(losses[-1] / truth - 1, False, np.nan, np.nan, seen, run.run_id)
            out.setdefault((method, run.source, cut), []).append(got)
            laws.setdefault((method, run.source, cut), []).append(fc.law)
    return out, seconds, laws


def laws_table(laws, sources, method) -> str:
    """The share of forecasts made by each law other than the (multi-)power law, per cutoff."""
    lines = ["| source | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |", "| --- |" + " --- |" * len(CUTOFFS)]
    for source in sources:
        cells = []
        for cut in CUTOFFS:
            got = laws.get((method, source, cut), [])
            cells.append(" / ".join(f"{np.mean([law == name for law in got]):.2f}" if got else "n/a"
                                    for name in ("log-linear", "overfitting", "none")))
        lines.append(f"| {source} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_laws(laws, sources, method):
    print(f"\nlaw of the {method} forecasts: share log-linear / overfitting / no forecast, per cutoff")
    print(laws_table(laws, sources, method))


def decay_phase_table(results, sources, method) -> str:
    """Coverage and signed bias of `method`'s forecasts, split by whether the schedule's decay had
    begun by the cutoff (runs whose schedule decays before the planned end only)."""
    lines = ["| source | decay | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " |",
             "| --- | --- |" + " --- |" * len(CUTOFFS)]
    for source in sources:
        for phase, name in ((False, "still to come"), (True, "begun")):
            cells = []
            for cut in CUTOFFS:
                got = [g for g in results.get((method, source, cut), []) if g.seen is phase]
                cells.append(f"c{np.mean([g.covered for g in got]):.2f} {100 * np.median([g.error for g in got]):+.2f} "
                             f"n{len(got)}" if got else "n/a")
            lines.append(f"| {source} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def print_decay_phase(results, sources, method):
    print(f"\n{method} forecasts of runs whose schedule decays, by whether the decay had begun at the cutoff: "
          "80% coverage c, signed bias %, forecasts n")
    print(decay_phase_table(results, sources, method))


def accuracy_cell(got) -> tuple:
    """(the cell of one source, method and cutoff, the coverage flags it adds to the row's total)."""
    if not got:
        return "n/a", []
    e = np.array([g.error for g in got])
    cell = f"{100 * np.median(np.abs(e)):.2f} ({100 * np.percentile(np.abs(e), 90):.2f}) {100 * np.median(e):+.2f}"
    cov = [g.covered for g in got if g.covered is not None]
    if cov:
        width = np.nanmedian([g.width for g in got])
        cell += (f" c{np.mean(cov):.2f} w{100 * width:.1f} r{width / max(np.median(np.abs(e)), 1e-12):.1f}"
                 f" is{100 * np.nanmean([g.score for g in got]):.1f}")
    return cell, cov


def accuracy_table(results, sources, methods) -> str:
    """Per source and method: median (p90) |error| %, signed bias %, coverage and width per cutoff."""
    lines = ["| source | method | " + " | ".join(f"{c:.0%}" for c in CUTOFFS) + " | coverage |",
             "| --- | --- |" + " --- |" * len(CUTOFFS) + " --- |"]
    for source in sources:
        for method in methods:
            cells, covered = [], []
            for cut in CUTOFFS:
                cell, cov = accuracy_cell(results.get((method, source, cut), []))
                cells.append(cell)
                covered += cov
            total = f"{np.mean(covered):.2f}" if covered else ""
            lines.append(f"| {source} | {method} | " + " | ".join(cells) + f" | {total} |")
    return "\n".join(lines)


def print_tables(results, sources, methods):
    print("\n|forecast − final| / final in %: median (p90) | signed bias = median of (forecast − final)/final in %"
          " | c: 80% coverage | w: median interval width (high − low)/final in % | r: w ÷ the median |error|"
          " | is: mean interval score of the 80% interval, % (width + 10·miss; power: ± its forecast improvement)")
    print(accuracy_table(results, sources, methods))


# ------------------------------------------------------------------------------------------
# the docs' tables and the record they are rendered from

def docs_tables(results, gate, sources, gate_settings) -> dict:
    """{block name: table} of docs/forecast.md (gate_settings: the gate's min_delta, patience, min_steps)."""
    return {"forecast_accuracy:loso": accuracy_table(results, sources, ["power", "in-sample", "loso"]),
            "forecast_accuracy:family": accuracy_table(results, sources, ["loso", "family"]),
            "forecast_accuracy:decay": decay_phase_table(results, sources, "loso"),
            "forecast_accuracy:gate": replay_table(gate, gate_settings["min_delta"])}


def record(results, gate, loso) -> dict:
    """What the docs' tables are rendered from: every scored forecast, the gate replay's outcome
    per run and the priors learnt without each source."""
    forecasts = [[method, source, cut, *g] for (method, source, cut), got in sorted(results.items()) for g in got]
    stops = {source: [[run.run_id, run.final_step, stop, gain] for run, stop, gain in rows]
             for source, rows in gate.items()}
    return {"columns": ["method", "source", "cutoff", *Scored._fields],
            "forecasts": forecasts, "gate": stops, "gate_order": list(gate), "gate_defaults": gate_defaults(),
            "loso_priors": {src: dataclasses.asdict(p) for src, p in loso.items()}}


@dataclasses.dataclass(frozen=True)
class RecordedRun:
    """What the gate table reads of a run."""

    run_id: str
    final_step: int


def from_record(data: dict):
    """(results, gate) of a record, as `score` and `replay_all` return them."""
    results = {}
    for method, source, cut, *fields in data["forecasts"]:
        got = Scored(*fields)
        if got.width is None and got.covered is False:  # a forecast not made: NaN as `score` records it
            got = got._replace(width=np.nan, score=np.nan)
        results.setdefault((method, source, cut), []).append(got)
    gate = {src: [(RecordedRun(run_id, final), stop, gain) for run_id, final, stop, gain in data["gate"][src]]
            for src in data["gate_order"]}
    return results, gate


def priors_from(d: dict) -> ForecastPriors:
    """ForecastPriors of dataclasses.asdict's output (lists back to tuples)."""
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    fields["drops"] = tuple(DropPrior(**drop) for drop in d["drops"])
    return ForecastPriors(**fields)


# A few recorded forecasts recomputed by --check-docs: (method, source, cutoff), each for the
# source's first scored run; and a run of the gate replay the gate stopped.
RECOMPUTED = (("in-sample", "gemstones", 0.4), ("loso", "gemstones", 0.4), ("loso", "multipower_law", 0.2),
              ("in-sample", "cpu_gpt", 0.6), ("loso", "cpu_gpt", 0.8), ("power", "cpu_gpt", 0.2))
REPLAYED_SOURCE = "cpu_gpt"


def recomputed_errors(data: dict) -> list:
    """What differs between a few recorded forecasts (RECOMPUTED) and the same forecasts now."""
    results, gate = from_record(data)
    runs = {r.run_id: r for r in load_runs(sorted({src for _, src, _ in RECOMPUTED}))}
    wrong = []
    for method, source, cut in RECOMPUTED:
        recorded = results[(method, source, cut)][0]
        run = runs[recorded.run_id]
        steps, losses = run.seen(cut)
        if method == "power":
            now = scored(*naive_power(steps, losses, run), run.final_loss, recorded.seen, run.run_id)
        else:
            priors = DEFAULT_PRIORS if method == "in-sample" else priors_from(data["loso_priors"][source])
            fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
            now = scored(fc.loss, fc.low, fc.high, run.final_loss, recorded.seen, run.run_id)
        numbers = [(a, b) for a, b in zip(now[:4], recorded[:4]) if a is not None or b is not None]
        if any(a is None or b is None for a, b in numbers) or not np.allclose(*zip(*numbers), rtol=1e-9, atol=0):
            wrong.append(f"{method} {run.run_id} at {cut:.0%}: recorded {tuple(recorded)}, now {tuple(now)}")
    return wrong + replayed_errors(gate, data["gate_defaults"])


def replayed_errors(gate, defaults) -> list:
    """What differs between the gate replay of one recorded stopped run and the replay now, at
    the recorded gate settings (tests/test_doc_tables.py checks they are ForecastEarlyStopping's:
    reading them here would import Lightning)."""
    recorded = next((r, stop, gain) for r, stop, gain in gate[REPLAYED_SOURCE] if stop is not None)
    run = next(r for r in load_runs(REPLAYED_SOURCE) if r.run_id == recorded[0].run_id)
    stop, before, after = replay(run, **defaults)
    now = (stop, before - after if stop is not None else 0.0)
    return [] if now == recorded[1:] else [f"gate replay of {run.run_id}: recorded {recorded[1:]}, now {now}"]


def check_docs() -> int:
    """0 when docs/forecast.md's tables are those rendered from docs/data/forecast_accuracy.json
    and a few of its forecasts are what the code forecasts now; 1 (and what differs) otherwise."""
    data = read_data(DATA_NAME)
    results, gate = from_record(data)
    wrong = stale_blocks(PAGE, docs_tables(results, gate, data["sources"], data["gate_defaults"]))
    return report_check(wrong + recomputed_errors(data), "forecast_accuracy.py")


def write_docs(results, gate, loso, sources) -> None:
    data = {**record(results, gate, loso), "sources": list(sources)}
    print(f"\nwrote {write_data(DATA_NAME, data)}")
    for name, table in docs_tables(results, gate, sources, data["gate_defaults"]).items():
        write_block(PAGE, name, table)
    print(f"wrote the blocks {', '.join(BLOCKS)} of docs/{PAGE}")


# ------------------------------------------------------------------------------------------

def learn_loso(sources, nats: bool) -> dict:
    """{source: the priors learnt from every other source's runs}."""
    everything = load_runs()
    loso = {}
    for source in sources:
        t0 = time.perf_counter()
        loso[source] = learn_priors([r for r in everything if r.source != source], start_priors(nats))
        p = loso[source]
        print(f"# priors without {source}: log_alpha={tuple(round(v, 3) for v in p.log_alpha)} "
              f"anneal={tuple(round(v, 4) for v in p.anneal)} interval=(w_o {p.interval_own}, w_h "
              f"{p.interval_hindcast}, w_s {p.interval_sensitivity}, w_a {p.interval_ahead}, z {p.interval_z}, "
              f"before a decay {p.interval_z_before_decay}) [{time.perf_counter() - t0:.0f} s]",
              flush=True)
    return loso


def source_families(runs, loso, prior_runs: float = FAMILY_PRIOR_RUNS) -> dict:
    """{source: the Family of its runs} under the priors learnt without the source (DEFAULT_PRIORS
    with --no-loso): each run is then forecast with the other runs of its source as its family
    (leave one run out: `Family.without`)."""
    families = {}
    for source in sorted({r.source for r in runs}):
        t0 = time.perf_counter()
        members = [r.family_run() for r in runs if r.source == source]
        families[source] = Family(members, loso.get(source, DEFAULT_PRIORS), forecast, prior_runs=prior_runs).replay_all()
        print(f"# family of {source}: {len(members)} runs replayed [{time.perf_counter() - t0:.0f} s]", flush=True)
    return families


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--no-loso", action="store_true", help="skip the leave-one-source-out priors (faster)")
    ap.add_argument("--no-gate", action="store_true", help="skip the gate replay")
    ap.add_argument("--family", action="store_true",
                    help="also forecast every run with the other runs of its source as its family (leave one run "
                         "out), under the priors learnt without the source (method 'family')")
    ap.add_argument("--family-prior-runs", type=float, default=FAMILY_PRIOR_RUNS, metavar="W",
                    help=f"with --family: the defaults' weight in runs, λ = n/(n + W) (default {FAMILY_PRIOR_RUNS:g})")
    ap.add_argument("--family-size", type=int, metavar="K",
                    help="with --family: only the K other runs of the source nearest in run-id order (a small family)")
    ap.add_argument("--all-runs", action="store_true",
                    help=f"score every usable run of the sources (default: at most {MAX_RUNS} a source, evenly spaced)")
    ap.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="K",
                    help=f"at most K runs a source, evenly spaced (default {MAX_RUNS}; ignored with --all-runs)")
    ap.add_argument("--nats", action="store_true",
                    help="loso priors with the drop prior in nats (ForecastPriors.anneal_nats); in-sample stays DEFAULT_PRIORS")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the tables into docs/forecast.md and the results into docs/data (the default run only)")
    ap.add_argument("--check-docs", action="store_true",
                    help="check docs/forecast.md's tables against the recorded results and a few forecasts")
    args = ap.parse_args(argv)
    args.family = args.family or args.write_docs  # the docs show family mode too
    if args.family_size is not None and args.family_size < 1:
        ap.error("--family-size must be at least 1")
    if args.write_docs and (args.no_loso or args.no_gate or args.all_runs or args.nats or args.family_size
                            or args.family_prior_runs != FAMILY_PRIOR_RUNS
                            or list(args.sources) != list(SOURCES) or args.max_runs != MAX_RUNS):
        ap.error("--write-docs writes the default run's tables: no other option")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.check_docs:
        return check_docs()
    t_start = time.perf_counter()
    runs = load_runs(args.sources, max_runs=None if args.all_runs else args.max_runs)
    loso = {} if args.no_loso else learn_loso(args.sources, args.nats)

    def priors_for(source):
        out = {"in-sample": DEFAULT_PRIORS}
        if source in loso:
            out["loso"] = loso[source]
        return out

    families = source_families(runs, loso, args.family_prior_runs) if args.family else None
    results, seconds, laws = score(runs, priors_for, families, args.family_size)
    methods = ["power", "in-sample"] + (["loso"] if loso else []) + (["family"] if families else [])
    print(f"\n{len(runs)} runs: " + ", ".join(f"{s} {sum(r.source == s for r in runs)}" for s in args.sources))
    print_tables(results, args.sources, methods)
    default = "loso" if loso else "in-sample"
    print_laws(laws, args.sources, default)
    print_decay_phase(results, args.sources, default)
    for method, times in seconds.items():
        s = np.asarray(times) * 1000
        print(f"\ntime per forecast() call ({method}): median {np.median(s):.1f} ms, p90 {np.percentile(s, 90):.1f} ms, "
              f"max {s.max():.1f} ms over {len(s)} calls")
    gate = None if args.no_gate else replay_all(runs)
    if gate is not None:
        print_replay(gate)
    print(f"\n[{time.perf_counter() - t_start:.0f} s in all]")
    if args.write_docs:
        write_docs(results, gate, loso, args.sources)
    return 0


if __name__ == "__main__":
    sys.exit(main())
