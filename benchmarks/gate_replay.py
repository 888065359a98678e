"""Replay development runs through the stopping rule of ForecastEarlyStopping, at its defaults.

    python3 benchmarks/gate_replay.py [--sources SOURCE ...] [--family]

At validations of each run (at most MAX_CHECKS, evenly spaced: a run validating less often) the
forecast of the planned end is made from the curve so far, as the callback makes it, and handed
to PlateauGate(min_delta, patience, min_steps) with ForecastEarlyStopping's defaults. A run
stopped at step s was stopped wrongly when the rest of it (to its planned end) improved on the
best loss seen up to s by more than 2·min_delta; otherwise the steps after s are compute saved.
With --family each run is forecast with the other runs of its source as its family (family mode,
leave one run out; docs/forecast.md, "Family mode").
"""
from __future__ import annotations

import argparse
import inspect

import numpy as np

from scaling_callback.core.forecast import forecast, learn_family
from scaling_callback.core.gate import PlateauGate
from scaling_callback.core.history import ForecastRecord
from scaling_callback.runs import MAX_RUNS, SOURCES, load_runs

MAX_CHECKS = 30  # checks per run: lr_scheduling runs validate up to 1000 times (bounded benchmark time)
WRONG_FACTOR = 2.0  # "improved by more than 2·min_delta after the stop" counts as a wrong stop


def gate_defaults():
    """ForecastEarlyStopping's min_delta, patience and min_steps (imported here: it brings Lightning)."""
    from scaling_callback import ForecastEarlyStopping

    sig = inspect.signature(ForecastEarlyStopping.__init__).parameters
    return {name: sig[name].default for name in ("min_delta", "patience", "min_steps")}


def replay(run, priors=None, family=None, **gate_kwargs):
    """(stopped step or None, best loss up to the stop, best loss after it); `family`: the run's
    family (a Family), or None."""
    steps, losses = run.curve.observed()
    gate = PlateauGate(**(gate_kwargs or gate_defaults()))
    checks = np.unique(np.linspace(1, len(steps) - 1, min(MAX_CHECKS, len(steps) - 1)).round().astype(int))
    for i in checks:
        s, y = steps[: i + 1], losses[: i + 1]
        fc = forecast(s, y, lr=run.lr, target_step=run.final_step, priors=priors, family=family)
        if fc.ok:
            now = float(fc.predict([s[-1]])[0][0])
            record = ForecastRecord(int(s[-1]), run.final_step, fc.loss, fc.low, fc.high, fc.asymptote, fc.exponent,
                                    now, True, None)
        else:
            record = ForecastRecord(int(s[-1]), run.final_step, *([float("nan")] * 6), False, fc.reason)
        if gate.check(int(s[-1]), record).stop:
            return int(s[-1]), float(np.min(y)), float(np.min(losses[i + 1:])) if i + 1 < len(losses) else np.inf
    return None, float(np.min(losses)), np.inf


def source_families(runs) -> dict:
    """{source: the Family of its runs} under DEFAULT_PRIORS (each replay leaves its run out)."""
    return {source: learn_family([r.family_run() for r in runs if r.source == source])
            for source in sorted({r.source for r in runs})}


def replay_all(runs, priors=None, families=None):
    """{source: [(run, stopped step or None, improvement after the stop)]}; families: {source:
    Family} for family mode (each run's own left out)."""
    out = {}
    for run in runs:
        family = families[run.source].without(run.run_id) if families else None
        stop, before, after = replay(run, priors, family)
        out.setdefault(run.source, []).append((run, stop, before - after if stop is not None else 0.0))
    return out


def replay_table(result, min_delta=None) -> str:
    """Per source: runs, stops, wrong stops (the first three named) and the compute the right stops
    saved; a wrong stop gained more than WRONG_FACTOR·min_delta after it (ForecastEarlyStopping's by default)."""
    wrong_gain = WRONG_FACTOR * (gate_defaults()["min_delta"] if min_delta is None else min_delta)
    lines = ["| source | runs | stopped | wrong stops (improved > 2·min_delta after) | compute saved by right stops |",
             "| --- | --- | --- | --- | --- |"]
    for source, rows in result.items():
        stopped = [(r, s, g) for r, s, g in rows if s is not None]
        wrong = [(r, s, g) for r, s, g in stopped if g > wrong_gain]
        planned = sum(r.final_step for r, _, _ in rows)
        saved = sum(r.final_step - s for r, s, g in stopped if g <= wrong_gain)
        detail = "; ".join(f"{r.run_id} at {s / r.final_step:.0%} (then -{g:.3f})" for r, s, g in wrong[:3])
        lines.append(f"| {source} | {len(rows)} | {len(stopped)} | {len(wrong)}{' ' + detail if detail else ''} | "
                     f"{100 * saved / planned:.1f}% |")
    return "\n".join(lines)


def wrong_stops(result) -> int:
    wrong_gain = WRONG_FACTOR * gate_defaults()["min_delta"]
    return sum(1 for rows in result.values() for _, s, g in rows if s is not None and g > wrong_gain)


def print_replay(result):
    d = gate_defaults()
    print(f"\ngate replay: PlateauGate{tuple(d.values())} (ForecastEarlyStopping's defaults min_delta, patience, "
          f"min_steps), at most {MAX_CHECKS} checks a run")
    print(replay_table(result))
    print(f"wrong stops in all: {wrong_stops(result)}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sources", nargs="*", default=list(SOURCES), choices=SOURCES)
    ap.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="K", help=f"at most K runs a source (default {MAX_RUNS})")
    ap.add_argument("--family", action="store_true",
                    help="forecast each run with the other runs of its source as its family (leave one run out)")
    args = ap.parse_args(argv)
    runs = load_runs(args.sources, max_runs=args.max_runs)
    print_replay(replay_all(runs, families=source_families(runs) if args.family else None))


if __name__ == "__main__":
    main()
