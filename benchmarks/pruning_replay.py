"""Replay finished hyperparameter studies through a real Optuna study with each pruner.

    python3 benchmarks/pruning_replay.py --curves data/curves/lr_scheduling.csv --runs data/curves/runs.csv [--json]
    python3 benchmarks/pruning_replay.py --write-docs   # every source of data/curves into docs/sweeps.md (~10 min)
    python3 benchmarks/pruning_replay.py --check-docs   # does docs/sweeps.md match the record and the code? (~15 s)

A study is the runs of one curves file with the same model size (`params`) and planned length
(`planned_steps`) in the runs CSV, or with the same `study` when the runs CSV has that column;
a study needs MIN_TRIALS runs. Each study is replayed in ORDERS random trial orders (fixed
seeds): every trial of the order is asked from an `optuna.Study` whose pruner is ours
(`ForecastPruner`, key "forecast") or one of Optuna's at its defaults with the same warm-up
(MedianPruner, PercentilePruner(25), SuccessiveHalvingPruner, HyperbandPruner,
PatientPruner(MedianPruner)); it reports its validation losses through `TrialReporter` (its
planned end and schedule as the trial's attributes) at up to MAX_REPORTS validations spread over
its planned length, and is told complete with its final loss unless pruned.

Per pruner, over every (study, order): compute used (steps run / steps of all trials), how often
the best trial survived, the median regret (best surviving final − best final, % of best), the
share of trials within NEAR_BEST of the best final that were pruned, and, in studies that mix a
late cool-down (warmup-stable-decay) with other schedules, the share of the WSD trials ending in
the better half of their study that were pruned before their cool-down began.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import optuna

from scaling_callback.core.pruning import DEFAULT_THRESHOLD, DEFAULT_WARMUP_FRACTION
from scaling_callback.runs import CURVES_DIR, SOURCES, planned_steps, usable_runs
from scaling_callback.sweeps.optuna_pruner import ForecastPruner
from scaling_callback.sweeps.optuna_trial import TrialReporter

import doc_tables

ORDERS = 20  # random trial orders per study
MIN_TRIALS = 3  # runs a study needs (fewer leave nothing to prune)
MAX_REPORTS = 40  # validations reported per trial, spread evenly over its planned length (bounded time)
NEAR_BEST = 0.005  # a trial ending within 0.5% of the best final is near-best
PATIENCE = 3  # PatientPruner's patience (validations without improvement): a few reports, as its docs' example
LATE_DECAY = 0.5  # a schedule whose decay starts after half the run is a warmup-stable-decay one
AT_PEAK = 0.98  # a rate within 2% of the peak has not begun to decay
CACHE = 100_000  # our pruner keeps every forecast of a replay (the same run and step recur in every order)
PRUNERS = ("forecast", "MedianPruner", "PercentilePruner", "SuccessiveHalvingPruner", "HyperbandPruner",
           "PatientPruner")
PAGE, BLOCK, FIGURE = "sweeps.md", "pruning-replay", os.path.join("img", "pruning_replay.png")
CHECK_SOURCE, CHECK_STUDIES, CHECK_ORDERS = "multipower_law", 1, 2  # what --check-docs replays again (seconds)


@dataclass
class Trial:
    """One run of a study as a trial: its reports, final loss and schedule class."""

    run_id: str
    steps: np.ndarray
    losses: np.ndarray
    planned_end: int
    final_loss: float
    lr: Optional[tuple]
    schedule: str  # "wsd" (late decay), "decay" (early decay) or "constant"
    decay_start: int


def schedule_class(lr, end: int):
    """("wsd" | "decay" | "constant", the step the decay starts) from the lr knots."""
    if lr is None:
        return "constant", end
    steps, rates = np.asarray(lr[0], float), np.asarray(lr[1], float)
    peak = int(np.argmax(rates))
    below = np.nonzero(rates[peak:] < AT_PEAK * rates[peak])[0]
    if below.size == 0:
        return "constant", end
    start = int(steps[peak + below[0]])
    return ("wsd" if start > LATE_DECAY * end else "decay"), start


def report_points(steps: np.ndarray, end: int) -> np.ndarray:
    """Indices of the validations reported: the first at or after each of MAX_REPORTS evenly
    spaced marks of the planned length (so runs of one study report at the same steps)."""
    marks = end * np.arange(1, MAX_REPORTS + 1) / MAX_REPORTS
    idx = np.unique(np.minimum(np.searchsorted(steps, marks - 1e-9), len(steps) - 1))
    return idx[steps[idx] > 0]


def load_studies(curves: str, runs_csv: str) -> Dict[str, List[Trial]]:
    """{study name: its trials} of one curves file."""
    source = os.path.basename(curves)[: -len(".csv")]
    with open(runs_csv, newline="") as fh:
        rows = {r["run_id"]: r for r in csv.DictReader(fh)}
    studies = defaultdict(list)
    for run in usable_runs(curves, source, planned_steps(runs_csv=runs_csv)):
        row = rows[run.run_id]
        name = row.get("study") or f"{row.get('params') or '?'} params, {row['planned_steps']} steps"
        steps, losses = run.curve.observed()
        idx = report_points(steps, run.final_step)
        kind, start = schedule_class(run.lr, run.final_step)
        studies[name].append(Trial(run.run_id, steps[idx].astype(int), losses[idx], run.final_step,
                                   run.final_loss, run.lr, kind, start))
    return {name: trials for name, trials in sorted(studies.items()) if len(trials) >= MIN_TRIALS}


def make_pruner(name: str, warmup: int, end: int, ours: ForecastPruner):
    p = optuna.pruners
    return {"forecast": lambda: ours,
            "MedianPruner": lambda: p.MedianPruner(n_warmup_steps=warmup),
            "PercentilePruner": lambda: p.PercentilePruner(25.0, n_warmup_steps=warmup),
            "SuccessiveHalvingPruner": lambda: p.SuccessiveHalvingPruner(min_resource=max(warmup, 1)),
            "HyperbandPruner": lambda: p.HyperbandPruner(min_resource=max(warmup, 1), max_resource=end),
            "PatientPruner": lambda: p.PatientPruner(p.MedianPruner(n_warmup_steps=warmup), patience=PATIENCE),
            }[name]()


def replay_order(trials: List[Trial], order, pruner, timings: dict, name: str) -> List[Optional[int]]:
    """Run the trials in `order` through a fresh study called `name` (HyperbandPruner assigns
    brackets by it): the step each was pruned at (None: completed)."""
    study = optuna.create_study(study_name=name, direction="minimize", pruner=pruner)
    pruned_at = [None] * len(trials)
    for i in order:
        t = trials[i]
        trial = study.ask()
        reporter = TrialReporter(trial)
        reporter.plan(t.planned_end, t.lr)
        try:
            for step, loss in zip(t.steps[:-1], t.losses[:-1]):  # a trial at its end is complete, not judged
                made, started = getattr(pruner, "forecasts_made", 0), time.perf_counter()
                try:
                    reporter.report(int(step), float(loss))
                finally:
                    kind = "forecast" if getattr(pruner, "forecasts_made", 0) > made else "decision"
                    timings[kind].append(time.perf_counter() - started)
        except optuna.TrialPruned:
            pruned_at[i] = reporter.pruned_at if reporter.pruned_at is not None else int(step)
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        study.tell(trial, t.final_loss)
    return pruned_at


def score(trials: List[Trial], pruned_at) -> dict:
    finals = np.array([t.final_loss for t in trials])
    best = float(finals.min())
    kept = [i for i, p in enumerate(pruned_at) if p is None]
    near = [i for i in range(len(trials)) if finals[i] <= best * (1 + NEAR_BEST)]
    mixed = {t.schedule for t in trials} - {"wsd"} and any(t.schedule == "wsd" for t in trials)
    good_wsd = [i for i, t in enumerate(trials) if mixed and t.schedule == "wsd" and finals[i] <= np.median(finals)]
    return {"steps_run": sum(t.planned_end if p is None else p for t, p in zip(trials, pruned_at)),
            "steps_all": sum(t.planned_end for t in trials),
            "best_kept": bool(pruned_at[int(np.argmin(finals))] is None),
            "regret_pct": 100.0 * (float(finals[kept].min()) - best) / best,
            "near": len(near), "near_pruned": sum(pruned_at[i] is not None for i in near),
            "good_wsd": len(good_wsd),
            "wsd_cut": sum(pruned_at[i] is not None and pruned_at[i] < trials[i].decay_start for i in good_wsd)}


def replay_source(curves: str, runs_csv: str, orders: int = ORDERS, threshold: float = DEFAULT_THRESHOLD,
                  warmup_fraction: float = DEFAULT_WARMUP_FRACTION, pruners=PRUNERS, max_studies=None,
                  family: bool = False) -> dict:
    """{"studies": [...], "cases": {pruner: [score per (study, order)]}, "decision_ms": ..., ...}."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = load_studies(curves, runs_csv)
    names = list(studies)[:max_studies]
    ours = ForecastPruner(threshold=threshold, warmup_fraction=warmup_fraction, cache_size=CACHE, family=family)
    cases, timings = defaultdict(list), {p: defaultdict(list) for p in pruners}
    for name in names:
        trials = studies[name]
        end = min(t.planned_end for t in trials)
        warmup = int(math.ceil(warmup_fraction * end))
        for k in range(orders):
            order = np.random.default_rng(k).permutation(len(trials))
            for pruner in pruners:
                pruned = replay_order(trials, order, make_pruner(pruner, warmup, end, ours), timings[pruner],
                                      f"{name} / order {k}")
                cases[pruner].append({"study": name, "order": k, **score(trials, pruned),
                                      "pruned": [None if p is None else int(p) for p in pruned]})
    return {"source": os.path.basename(curves)[: -len(".csv")], "studies": {n: [t.run_id for t in studies[n]]
                                                                              for n in names},
            "threshold": threshold, "warmup_fraction": warmup_fraction, "orders": orders, "cases": dict(cases),
            "report_ms": {p: {"decision_median": _ms(t["decision"], 50), "decision_p99": _ms(t["decision"], 99),
                              "forecast_median": _ms(t["forecast"], 50)}
                          for p, t in timings.items()}}


def _ms(seconds: list, percentile: float) -> float:
    return 1e3 * float(np.percentile(seconds, percentile)) if seconds else math.nan


def summary(cases: List[dict]) -> dict:
    near = sum(c["near"] for c in cases)
    good_wsd = sum(c["good_wsd"] for c in cases)
    return {"compute_used": sum(c["steps_run"] for c in cases) / sum(c["steps_all"] for c in cases),
            "best_kept": float(np.mean([c["best_kept"] for c in cases])),
            "median_regret_pct": float(np.median([c["regret_pct"] for c in cases])),
            "near_best_pruned": sum(c["near_pruned"] for c in cases) / near if near else math.nan,
            "wsd_cut_before_cooldown": sum(c["wsd_cut"] for c in cases) / good_wsd if good_wsd else math.nan}


def _pct(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f}%"


HEADER = ["| source | studies (trials) | pruner | compute used | best kept | median regret | near-best pruned | "
          "good WSD trials cut before their cool-down |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]


def table_rows(source: str, n_studies: int, n_trials: int, summaries: dict) -> List[str]:
    rows = []
    for pruner, s in summaries.items():
        rows.append(f"| {source} | {n_studies} ({n_trials}) | {pruner} | {_pct(s['compute_used'])} | "
                    f"{_pct(s['best_kept'])} | {s['median_regret_pct']:.2f}% | {_pct(s['near_best_pruned'])} | "
                    f"{_pct(s['wsd_cut_before_cooldown'])} |")
    return rows


def table(result: dict) -> str:
    n_trials = sum(len(v) for v in result["studies"].values())
    lines = HEADER + table_rows(result["source"], len(result["studies"]), n_trials, as_json(result))
    ours = result["report_ms"].get("forecast")
    if ours:
        lines.append(f"\nForecastPruner per report: {ours['decision_p99']:.2f} ms (99th percentile) from a cached "
                     f"forecast, {ours['forecast_median']:.1f} ms (median) when it forecasts")
    return "\n".join(lines)


def as_json(result: dict) -> dict:
    return {pruner: summary(cases) for pruner, cases in result["cases"].items()}


def no_nan(summaries: dict) -> dict:
    """NaN (nothing to measure) as null: JSON has no NaN."""
    return {p: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in s.items()}
            for p, s in summaries.items()}


def _nan(summaries: dict) -> dict:
    return {p: {k: (math.nan if v is None else v) for k, v in s.items()} for p, s in summaries.items()}


# ------------------------------------------------------------------------------ docs/sweeps.md


def render(record: dict) -> str:
    """The block of docs/sweeps.md from the record: the table, the sources without studies, timings."""
    lines = list(HEADER)
    for r in record["sources"]:
        lines += table_rows(r["source"], r["studies"], r["trials"], _nan(r["summary"]))
    none = [r["source"] for r in record["without_studies"]]
    settings = record["settings"]
    lines += ["", f"{settings['orders']} random orders per study; ForecastPruner(threshold={settings['threshold']:g}, "
              f"warmup_fraction={settings['warmup_fraction']:g}), Optuna's pruners at their defaults with the same "
              f"warm-up; up to {settings['max_reports']} validations reported per trial."
              + (f" No study of {MIN_TRIALS}+ runs with one size and length: {', '.join(none)}." if none else "")]
    times = "; ".join(f"{r['source']} {r['report_ms']['decision_median']:.2f} / {r['report_ms']['decision_p99']:.2f} ms, "
                      f"{r['report_ms']['forecast_median']:.0f} ms" for r in record["sources"])
    lines += ["", "Time per report of ForecastPruner (trial.report and should_prune), from a cached forecast (median / "
              f"99th percentile), and when it forecasts (median): {times} (two busy cores)."]
    return "\n".join(lines)


def _record_of(result: dict) -> dict:
    return {"source": result["source"], "studies": len(result["studies"]),
            "trials": sum(len(v) for v in result["studies"].values()), "summary": no_nan(as_json(result)),
            "report_ms": result["report_ms"]["forecast"]}


def _check_cases(result: dict) -> dict:
    keys = ("study", "order", "pruned", "best_kept", "regret_pct")
    return {p: [{k: c[k] for k in keys} for c in cases] for p, cases in result["cases"].items()}


def _replay_named(source: str) -> dict:
    return replay_source(os.path.join(CURVES_DIR, source + ".csv"), os.path.join(CURVES_DIR, "runs.csv"))


def write_docs(jobs: int = 2) -> int:
    sources, without = [], []
    with multiprocessing.Pool(jobs) as pool:  # one source a process (the forecasts are the time)
        results = pool.map(_replay_named, SOURCES, chunksize=1)
    for source, result in zip(SOURCES, results):
        (sources if result["studies"] else without).append(_record_of(result) if result["studies"] else
                                                           {"source": source})
        print(f"{source}: {len(result['studies'])} studies", flush=True)
    check = replay_source(os.path.join(CURVES_DIR, CHECK_SOURCE + ".csv"), os.path.join(CURVES_DIR, "runs.csv"),
                          orders=CHECK_ORDERS, max_studies=CHECK_STUDIES)
    record = {"settings": {"threshold": DEFAULT_THRESHOLD, "warmup_fraction": DEFAULT_WARMUP_FRACTION,
                           "orders": ORDERS, "max_reports": MAX_REPORTS},
              "sources": sources, "without_studies": without,
              "check": {"source": CHECK_SOURCE, "studies": CHECK_STUDIES, "orders": CHECK_ORDERS,
                        "cases": _check_cases(check)}}
    doc_tables.write_data("pruning_replay", record)
    doc_tables.write_block(PAGE, BLOCK, render(record))
    draw_figure(os.path.join(doc_tables.DOCS, FIGURE))
    print(render(record))
    return 0


def check_docs() -> int:
    record = doc_tables.read_data("pruning_replay")
    wrong = doc_tables.stale_blocks(PAGE, {BLOCK: render(record)})
    settings = record["settings"]
    if (settings["threshold"], settings["warmup_fraction"]) != (DEFAULT_THRESHOLD, DEFAULT_WARMUP_FRACTION):
        wrong.append(f"the record is of threshold {settings['threshold']}, warm-up {settings['warmup_fraction']}; "
                     f"the defaults are {DEFAULT_THRESHOLD}, {DEFAULT_WARMUP_FRACTION}")
    check = record["check"]
    now = replay_source(os.path.join(CURVES_DIR, check["source"] + ".csv"), os.path.join(CURVES_DIR, "runs.csv"),
                        orders=check["orders"], max_studies=check["studies"])
    wrong += doc_tables.differences(f"{check['source']} replay", check["cases"], _check_cases(now), rtol=1e-6)
    return doc_tables.report_check(wrong, "pruning_replay.py")


FIGURE_SOURCE, FIGURE_ORDER = "lr_scheduling", 0  # the study drawn: the mixed-schedule study with most trials


def draw_figure(path: str) -> None:
    """Trials of one mixed-schedule study in one order, each drawn until it was pruned (×), under
    ForecastPruner and MedianPruner: docs/img/pruning_replay.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = os.path.join(CURVES_DIR, FIGURE_SOURCE + ".csv")
    studies = load_studies(curves, os.path.join(CURVES_DIR, "runs.csv"))
    mixed = [n for n, ts in studies.items() if len({t.schedule for t in ts}) > 1 and any(t.schedule == "wsd" for t in ts)]
    name = max(mixed, key=lambda n: len(studies[n]))
    trials = studies[name]
    end = min(t.planned_end for t in trials)
    warmup = int(math.ceil(DEFAULT_WARMUP_FRACTION * end))
    order = np.random.default_rng(FIGURE_ORDER).permutation(len(trials))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = {"wsd": "tab:orange", "decay": "tab:blue", "constant": "tab:gray"}
    for ax, pruner in zip(axes, ("forecast", "MedianPruner")):
        ours = ForecastPruner(cache_size=CACHE)
        pruned = replay_order(trials, order, make_pruner(pruner, warmup, end, ours), defaultdict(list),
                              f"{name} / order {FIGURE_ORDER}")
        for t, p in zip(trials, pruned):
            stop = t.planned_end if p is None else p
            seen = t.steps <= stop
            ax.plot(t.steps[seen], t.losses[seen], color=colours[t.schedule], lw=1.2)
            ax.plot(t.steps[~seen], t.losses[~seen], color=colours[t.schedule], lw=0.6, alpha=0.25)
            if p is not None:
                ax.plot(t.steps[seen][-1], t.losses[seen][-1], "x", color="black", ms=5)
        n = sum(p is not None for p in pruned)
        ax.set_title(f"{'ForecastPruner' if pruner == 'forecast' else pruner}: {n} of {len(trials)} pruned")
        ax.set_xlabel("step")
        ax.axvline(warmup, color="black", lw=0.6, ls=":")
    finals = np.array([t.final_loss for t in trials])
    axes[0].set_ylim(finals.min() - 0.05, np.percentile([t.losses[len(t.losses) // 5] for t in trials], 90) + 0.1)
    axes[0].set_ylabel("validation loss")
    handles = [plt.Line2D([], [], color=c, label={"wsd": "WSD (late cool-down)", "decay": "cosine / early decay",
                                                  "constant": "constant"}[k]) for k, c in colours.items()]
    axes[1].legend(handles=handles + [plt.Line2D([], [], marker="x", color="black", ls="", label="pruned")],
                   loc="upper right", fontsize=8)
    fig.suptitle(f"{FIGURE_SOURCE}, study {name}, one trial order (faint: what the pruned trials would have done)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--curves", help="a curves CSV in the format of data/curves")
    ap.add_argument("--runs", default=os.path.join(CURVES_DIR, "runs.csv"), help="its runs CSV (planned steps, params, study)")
    ap.add_argument("--json", action="store_true", help="print {pruner: {compute_used, best_kept, median_regret_pct, ...}}")
    ap.add_argument("--orders", type=int, default=ORDERS)
    ap.add_argument("--max-studies", type=int, default=None, help="replay only the first N studies (a quick look)")
    ap.add_argument("--family", action="store_true",
                    help="ForecastPruner(family=True): each trial forecast with the study's finished trials as its family")
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--warmup-fraction", type=float, default=DEFAULT_WARMUP_FRACTION)
    ap.add_argument("--write-docs", action="store_true", help="every source of data/curves into docs/sweeps.md")
    ap.add_argument("--check-docs", action="store_true", help="check docs/sweeps.md against the record and the code")
    ap.add_argument("--jobs", type=int, default=2, help="processes for --write-docs (one source each)")
    ap.add_argument("--figure", metavar="PNG", help="draw only the figure of docs/sweeps.md into PNG")
    args = ap.parse_args(argv)
    if args.figure:
        draw_figure(args.figure)
        return 0
    if args.write_docs:
        return write_docs(args.jobs)
    if args.check_docs:
        return check_docs()
    if not args.curves:
        ap.error("--curves FILE is needed (or --write-docs / --check-docs)")
    result = replay_source(args.curves, args.runs, args.orders, args.threshold, args.warmup_fraction,
                           max_studies=args.max_studies, family=args.family)
    if not result["studies"]:
        print(f"{args.curves}: no study of {MIN_TRIALS} or more runs with one model size and planned length")
        return 0
    if args.json:
        print(json.dumps(no_nan(as_json(result)), indent=1))
    else:
        print(f"{result['source']}: {len(result['studies'])} studies, {args.orders} orders each")
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
