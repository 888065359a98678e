"""Why the cool-down drop is mis-predicted: three tables from the development curves.

    python3 benchmarks/studies/cooldown_drop.py [--no-sensitivity]

1. The drop's shape. lr_scheduling's WSD cool-down branches against the constant-rate run of
   the same model, data and peak rate, compared at the SAME learning-rate area (the constant
   run's loss interpolated at the branch's S1, so that the branch's slower progress is not
   counted as a smaller drop): the fraction of the final drop realised by the time η reaches
   0.8 / 0.6 / 0.4 / 0.2 / 0.1 / 0, and what the multi-power kernel (linear in the decrease of
   η, Luo et al.'s shape) and the kernel with power p = 0.7 (linear in the decrease of η^0.7)
   give for the same schedule. Medians by peak rate.
2. The drop's size. Every complete decaying curve is fitted with the forecaster's law and flat
   priors (learn_priors.complete_curve_fits' fit); its realised drop per unit decay depth is
   normalised by candidates a forecast could use (the loss^q for q = 0 (nats) .. 1 (fraction of
   the loss), the reducible part at the decay's start, the observed slope dL/d ln S1 before the
   decay). Per source: the median; then the between-source spread (max/min of medians) and the
   left-one-source-out transfer: log(prior mean / realised) for each held-out source, the prior
   being the pooled line a + b·f of the other five (learn_priors.pooled_line).
3. Who sets the drop at a cut-off (--no-sensitivity skips it): the signed bias (median
   (forecast − final)/final, %) at 40/60/80% with DEFAULT_PRIORS and with the drop prior's
   mean ×0.5 / ×1.5, its sd ×10 (weak), and the fit window κ = 0.5. A forecast that moves with
   the prior's mean but not with its sd has a drop the data do not identify.
"""
from __future__ import annotations

import argparse
import dataclasses
import re

import numpy as np

import scaling_callback.core.forecast.learning as lp
from scaling_callback.core.forecast import DEFAULT_PRIORS, forecast
from scaling_callback.core.forecast.law import decay_fraction
from scaling_callback.core.schedules import lr_area, multi_power_drop
from scaling_callback.runs import SOURCES, forecast_points, load_runs

LEVELS = (0.8, 0.6, 0.4, 0.2, 0.1, 0.0)
KERNEL = lp.CANDIDATE_SHAPES[0]  # Luo et al.'s shape, as DEFAULT_PRIORS.drops
RUN_ID = re.compile(r"fsp_(\w+?)_(wsd[\d.]+[ls]|const|cos10|cos0)_lr([\d.]+)_T(\d+)(_\w+)?$")


def realised_fractions(d, e):
    """The fraction of the final drop d[-1] realised when η (decreasing along e) reaches each level."""
    return [float(np.interp(level, e[::-1], d[::-1]) / d[-1]) for level in LEVELS]


def drop_shape_table():
    runs = load_runs(["lr_scheduling"], max_runs=None)
    constant = {}
    for r in runs:
        m = RUN_ID.match(r.run_id)
        if m and m.group(2) == "const":
            key = (m.group(1), m.group(3), m.group(5))
            if key not in constant or constant[key].final_step < r.final_step:
                constant[key] = r
    by_lr = {}
    for r in runs:
        m = RUN_ID.match(r.run_id)
        if not m or not m.group(2).startswith("wsd"):
            continue
        c = constant.get((m.group(1), m.group(3), m.group(5)))
        if c is None or c.final_step < r.final_step:
            continue
        s, y = r.curve.observed()
        cs, cy = c.curve.observed()
        eta = lp.run_schedule(r)
        peak = int(np.argmax(eta))
        start = peak + int(np.argmax(eta[peak:] < 0.98))
        at = s[s >= start].astype(int)
        if len(at) < 5:
            continue
        S1 = lr_area(eta)
        y_const = np.interp(S1[at], lr_area(lp.run_schedule(c))[cs.astype(int)], cy)  # same learning-rate area
        d = (y_const - y[s >= start]) / y_const
        if d[-1] < 0.005:  # a drop within the noise tells no shape
            continue
        e = eta[at]
        rows = by_lr.setdefault(float(m.group(3)), [])
        rows.append((d[-1], realised_fractions(d, e),
                     realised_fractions(multi_power_drop(eta, at, *KERNEL), e),
                     realised_fractions(multi_power_drop(eta, at, *KERNEL, power=0.7), e)))
    print("\n## 1. lr_scheduling cool-down branches vs their constant run at equal learning-rate area")
    print("fraction of the final drop realised when η reaches " + " / ".join(f"{v:g}" for v in LEVELS))
    print("| peak lr | runs | final drop % | observed | kernel p=1 (Luo) | kernel p=0.7 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for lr in sorted(by_lr):
        rows = by_lr[lr]
        med = [np.median(np.array([r[i] for r in rows]), axis=0) for i in (1, 2, 3)]
        print(f"| {lr:g} | {len(rows)} | {100 * np.median([r[0] for r in rows]):.2f} | "
              + " | ".join(" ".join(f"{v:.2f}" for v in m) for m in med) + " |")


def drop_size_table():
    runs = load_runs(SOURCES)
    base = dataclasses.replace(lp.START, noise=0.0016)
    flat = dataclasses.replace(base, log_alpha=(base.log_alpha[0], lp.FLAT), anneal=(0.1, 0.0, lp.FLAT), window=0.0)
    rows = {}
    for run in runs:
        if lp.schedule_depth(run) < lp.MIN_DEPTH:
            continue
        fc, _ = lp.fit_complete(run, flat)
        if not fc.ok or fc.law == "overfitting":
            continue
        p, eta, T = fc.params, lp.run_schedule(run), run.final_step
        S1 = lr_area(eta)
        peak = int(np.argmax(eta))
        start = peak + int(np.argmax(eta[peak:] < 0.98))
        x_start = max(S1[start], 1e-12) / S1[T]
        nats = p["B"] * multi_power_drop(eta, [T], p["C"], p["beta"], p["gamma"])[0] / (1 - eta[-1])
        steps, losses = run.curve.observed()
        before = (steps >= start / 2) & (steps <= start) & (steps > 0)
        slope = (-np.polyfit(np.log(S1[steps[before].astype(int)]), losses[before], 1)[0]
                 if before.sum() >= 3 else np.nan)
        loss = p["E"] + p["A"]  # the fitted loss at the target without the drop
        feats = {f"q={q:g}": nats / loss ** q for q in (0.0, 0.5, 1.0)}
        feats["reducible at start"] = nats / (p["A"] * x_start ** -p["alpha"])
        feats["slope before decay"] = nats / slope if slope > 0 else np.nan
        feats["f"] = decay_fraction(eta, T)
        rows.setdefault(run.source, []).append(feats)
    names = [k for k in next(iter(rows.values()))[0] if k != "f"]
    print("\n## 2. realised drop per unit decay depth (complete curves, flat priors), normalised by")
    print("q=0: nothing (nats); q=0.5: loss^0.5; q=1: the loss (the old prior); the fitted reducible loss at the "
          "decay's start; the observed slope dL/d ln S1 over [start/2, start]")
    print("| source | runs | " + " | ".join(names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    medians = {k: [] for k in names}
    for src, r in rows.items():
        cells = []
        for k in names:
            v = np.array([q[k] for q in r], float)
            medians[k].append(np.nanmedian(v))
            cells.append(f"{np.nanmedian(v):.4f}")
        print(f"| {src} | {len(r)} | " + " | ".join(cells) + " |")
    print("| spread max/min | | " + " | ".join(f"{max(m) / max(min(m), 1e-12):.2f}" for m in medians.values()) + " |")
    cells = {k: [] for k in names}
    for src in rows:
        for k in names:
            others = {s: [(q["f"], q[k]) for q in r if np.isfinite(q[k])] for s, r in rows.items() if s != src}
            a, b, _ = lp.pooled_line(others)
            own = np.array([(q["f"], q[k]) for q in rows[src] if np.isfinite(q[k]) and q[k] > 0])
            cells[k].append(float(np.median(np.log((a + b * own[:, 0]) / own[:, 1]))))
    print("| LOSO log(prior/realised) | | " + " | ".join(" ".join(f"{v:+.2f}" for v in c) for c in cells.values())
          + " |")
    print("(per held-out source in the order of the rows; 0 = the other sources' line predicts it exactly)")


def sensitivity_table(sources=("multipower_law", "modded_nanogpt_track1", "modded_nanogpt_track2", "lr_scheduling")):
    D = DEFAULT_PRIORS
    a, b, sd = D.anneal
    variants = {
        "default": D,
        "prior mean x0.5": dataclasses.replace(D, anneal=(0.5 * a, 0.5 * b, sd)),
        "prior mean x1.5": dataclasses.replace(D, anneal=(1.5 * a, 1.5 * b, sd)),
        "prior sd x10": dataclasses.replace(D, anneal=(a, b, 10 * sd)),
        "window 0.5": dataclasses.replace(D, window=0.5),
    }
    res = {}
    for run, cut, s, y in forecast_points(load_runs(sources)):
        if cut < 0.3:
            continue
        for k, p in variants.items():
            fc = forecast(s, y, lr=run.lr, target_step=run.final_step, priors=p)
            res.setdefault((run.source, k, cut), []).append((fc.loss if fc.ok else y[-1]) / run.final_loss - 1)
    print("\n## 3. signed bias % (median |error| %) at 40 / 60 / 80% of the run, in-sample priors varied")
    print("| source | priors | 40% | 60% | 80% |")
    print("| --- | --- | --- | --- | --- |")
    for src in sources:
        for k in variants:
            print(f"| {src} | {k} | " + " | ".join(
                f"{100 * np.median(res[(src, k, c)]):+.2f} ({100 * np.median(np.abs(res[(src, k, c)])):.2f})"
                for c in (0.4, 0.6, 0.8)) + " |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-sensitivity", action="store_true", help="skip table 3 (forecasts at every cut-off)")
    args = ap.parse_args(argv)
    drop_shape_table()
    drop_size_table()
    if not args.no_sensitivity:
        sensitivity_table()


if __name__ == "__main__":
    main()
