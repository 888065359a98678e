"""Does a cross-run law predict the next, bigger run?  Measured on real points.

    python benchmarks/extrapolation.py                  # Porian + Gadre + coverage (a few minutes)
    python benchmarks/extrapolation.py --peer /tmp/chinchilla_peer   # + the PyPI `chinchilla` package

1. Porian et al. 2024 iso-FLOP points (`scaling/porian_isoflop.csv`), per configuration: fit
   `fit_scaling_law` on the budgets up to a cut and predict the budgets 4x, 16x and 64x
   beyond: the loss of every held-out run, and the iso-FLOP optimum (loss and N_opt, read off
   a parabola in log N through the budget's lowest points, as an iso-FLOP analysis does).
   The compute-optimal exponent a (N_opt ∝ C^a) of the law fitted on all budgets is printed
   beside a from the iso-FLOP minima themselves (a power law through the parabola vertices:
   Porian et al.'s own method, on their own points).
2. Gadre et al. 2024 (`scaling/gadre_overtraining.csv`): fit on the models up to 0.411B
   parameters (every over-training multiplier) and predict the 1.4B and 6.9B models at every
   multiplier they were trained at, on each training set's own validation split and on C4.
3. Intervals: how often the bootstrap interval of the law's expected loss covers the held-out
   truth, against its nominal level.
4. Peer: the `chinchilla` package (PyPI, Kyo Takano) fitted on the same Porian points, if it
   can be imported from the folder given with --peer (install it there with
   `pip install --target DIR chinchilla`; it is never a dependency of this project).

Reads data/scaling. Prints tables; asserts nothing.
"""
import argparse
import csv
import os
import sys
import time
from collections import defaultdict

import numpy as np

from crossrun_fit import fmt, rows, timed
from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law

HORIZONS = (4, 16, 64)  # held-out budgets, as multiples of the largest fitted budget (issue 15)
DEFAULT_CUT = 4e17  # largest fitted Porian budget: 64x beyond it (2.56e19) is their largest
PARABOLA_POINTS = 5  # points around an iso-FLOP minimum that the parabola goes through
NEAR_OPTIMUM = 0.10  # "near-optimum" runs: loss within 10% of their budget's lowest (an iso-FLOP
# profile's far ends are runs nobody would plan: at 1e17 FLOPs a 0.9B model reaches 8.8 against 4.0)
GADRE_SMALL = 0.5e9  # fit on models below this many parameters (Gadre et al.: 0.011B-0.411B)


# ------------------------------------------------------------------------------- Porian

def porian_configs():
    """{configuration name: {budget: (N, D, loss) arrays}} for every configuration in the file."""
    groups = defaultdict(lambda: defaultdict(list))
    for x in rows("porian_isoflop.csv"):
        key = (f"{x['dataset']} {x['hparams']}/{x['warmup']} warmup/{x['decay']} decay/"
               f"{x['param_count']} N/{x['loss_kind']}")
        groups[key][float(x["flop_budget"])].append(
            (float(x["params_N"]), float(x["tokens_D"]), float(x["loss"])))
    return {k: {c: tuple(np.array(col) for col in zip(*sorted(pts))) for c, pts in sorted(v.items())}
            for k, v in sorted(groups.items())}


def isoflop_optimum(N, L):
    """(N_opt, L_opt) of one iso-FLOP profile: the vertex of a parabola in log N through the
    lowest point and its neighbours; the lowest point itself when the vertex falls outside them."""
    i = int(np.argmin(L))
    lo = max(0, min(i - PARABOLA_POINTS // 2, len(L) - PARABOLA_POINTS))
    sel = slice(lo, lo + PARABOLA_POINTS)
    x, y = np.log(N[sel]), L[sel]
    if x.size >= 3:
        c2, c1, c0 = np.polyfit(x, y, 2)
        if c2 > 0:
            v = -c1 / (2 * c2)
            if x.min() <= v <= x.max():
                return float(np.exp(v)), float(c0 + c1 * v + c2 * v * v)
    return float(N[i]), float(L[i])


def stack(budgets):
    N, D, L = (np.concatenate([b[k] for b in budgets]) for k in range(3))
    return N, D, L


def near_optimum(budget):
    """The runs of one iso-FLOP budget whose loss is within NEAR_OPTIMUM of its lowest."""
    N, D, L = budget
    keep = L <= L.min() * (1 + NEAR_OPTIMUM)
    return N[keep], D[keep], L[keep]


def porian_extrapolation(configs, cut, n_bootstrap, confidence, near):
    """Per configuration and horizon: held-out pointwise error, L_opt and N_opt error, coverage."""
    which = f"near-optimum runs (loss within {100 * NEAR_OPTIMUM:g}% of the budget's lowest)" if near else "all runs"
    print(f"## Porian et al. iso-FLOP points: fit {which} of budgets ≤ {cut:.3g} FLOPs, predict "
          + ", ".join(f"{h}x" for h in HORIZONS) + " beyond")
    print(f"(chinchilla form, {n_bootstrap} bootstrap resamples, {100 * confidence:g}% intervals; "
          "errors are |predicted − true| / true, point errors over the held-out budget's near-optimum "
          "runs; N_opt error is the factor max(p/t, t/p))")
    print()
    print("| configuration | fit points | fit s | horizon | held-out runs | median point error | "
          "L_opt true | L_opt predicted | L_opt error | N_opt true | N_opt predicted | N_opt factor |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    per_h = defaultdict(lambda: defaultdict(list))
    cover = defaultdict(lambda: [0, 0])  # horizon -> [inside, total] (pointwise), "opt" for L_opt
    for name, budgets in configs.items():
        train = [near_optimum(b) if near else b for c, b in budgets.items() if c <= cut * (1 + 1e-9)]
        N, D, L = stack(train)
        fit, seconds = timed(fit_scaling_law, N, D, L, n_bootstrap=n_bootstrap, confidence=confidence)
        for h in HORIZONS:
            target = cut * h
            match = [c for c in budgets if abs(c / target - 1) < 1e-6]
            if not match:
                continue
            nopt_true, lopt_true = isoflop_optimum(budgets[match[0]][0], budgets[match[0]][2])
            n_t, d_t, l_t = near_optimum(budgets[match[0]])
            pred = fit.law.loss(n_t, d_t)
            err = np.abs(pred - l_t) / l_t
            plan = fit.compute_optimal(match[0])
            lopt_err = abs(plan.loss.value - lopt_true) / lopt_true
            n_factor = max(plan.N.value / nopt_true, nopt_true / plan.N.value)
            per_h[h]["point"].append(float(np.median(err)))
            per_h[h]["lopt"].append(lopt_err)
            per_h[h]["nopt"].append(n_factor)
            if fit.bootstrap_laws:
                for n, d, y in zip(n_t, d_t, l_t):
                    est = fit.expected_loss(float(n), float(d))
                    cover[h][0] += int(est.low <= y <= est.high)
                    cover[h][1] += 1
                cover[("opt", h)][0] += int(plan.loss.low <= lopt_true <= plan.loss.high)
                cover[("opt", h)][1] += 1
            print(f"| {name} | {N.size} | {seconds:.1f} | {h}x ({match[0]:.3g}) | {n_t.size} | "
                  f"{100 * np.median(err):.2f}% | {lopt_true:.3f} | {plan.loss.value:.3f} | "
                  f"{100 * lopt_err:.2f}% | {fmt(nopt_true)} | {fmt(plan.N.value)} | {n_factor:.2f} |")
    print()
    print(f"Summary, fitted on {which} (median across configurations):")
    print()
    print("| horizon | configurations | median point error | median L_opt error | median N_opt factor |")
    print("| --- | --- | --- | --- | --- |")
    for h in HORIZONS:
        s = per_h[h]
        if s["point"]:
            print(f"| {h}x | {len(s['point'])} | {100 * np.median(s['point']):.2f}% | "
                  f"{100 * np.median(s['lopt']):.2f}% | {np.median(s['nopt']):.2f} |")
    print()
    return cover


def porian_exponents(configs):
    """a from the law fitted on every budget, beside a from the iso-FLOP minima (their method)."""
    print("## Compute-optimal exponent a (N_opt ∝ C^a), every budget of each configuration")
    print()
    print("| configuration | a from our law (all budgets) | a from iso-FLOP minima (parabola vertices, "
          "power-law fit) |")
    print("| --- | --- | --- |")
    for name, budgets in configs.items():
        N, D, L = stack(list(budgets.values()))
        fit = fit_scaling_law(N, D, L, n_bootstrap=0)
        C = np.array(list(budgets))
        nopt = np.array([isoflop_optimum(b[0], b[2])[0] for b in budgets.values()])
        a_iso = np.polyfit(np.log(C), np.log(nopt), 1)[0]
        print(f"| {name} | {fit.n_opt_exponent.value:.3f} | {a_iso:.3f} |")
    print()


# ------------------------------------------------------------------------------- Gadre

GADRE_EVALS = ("own", "c4_val")
OWN_VAL = {"c4_original": "c4_val", "rpj": "paloma_redpajama", "rw_original": "paloma_falcon-refinedweb"}


def gadre_extrapolation(n_bootstrap, confidence):
    print(f"## Gadre et al.: fit on models < {GADRE_SMALL / 1e9:g}B parameters (all multipliers), "
          "predict the 1.4B and 6.9B models")
    print("(chinchilla form on total parameters and training tokens; M = tokens per parameter)")
    print()
    print("| training set | eval set | fit points | target N | M | true loss | predicted | "
          f"{100 * confidence:g}% interval | relative error | inside |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    all_rows = rows("gadre_overtraining.csv")
    errors, inside, total = [], 0, 0
    for train, own in OWN_VAL.items():
        for ev in (own, "c4_val") if own != "c4_val" else (own,):
            r = [x for x in all_rows if x["train_dataset"] == train and x["eval_set"] == ev]
            N, D, L = (np.array([float(x[k]) for x in r]) for k in ("params", "train_tokens", "eval_loss"))
            small = N < GADRE_SMALL
            fit = fit_scaling_law(N[small], D[small], L[small], n_bootstrap=n_bootstrap, confidence=confidence)
            for i in np.flatnonzero(~small)[np.argsort(N[~small] * 1e3 + D[~small] / N[~small])]:
                est = fit.expected_loss(float(N[i]), float(D[i]))
                err = abs(est.value - L[i]) / L[i]
                errors.append(err)
                ok = est.low is not None and est.low <= L[i] <= est.high
                inside += int(ok)
                total += int(est.low is not None)
                interval = "" if est.low is None else f"{est.low:.3f}–{est.high:.3f}"
                print(f"| {train} | {ev} | {int(small.sum())} | {N[i] / 1e9:.2f}B | {D[i] / N[i]:.0f} | "
                      f"{L[i]:.3f} | {est.value:.3f} | {interval} | {100 * err:.2f}% | {'yes' if ok else 'no'} |")
    print()
    print(f"median relative error over {len(errors)} targets: {100 * np.median(errors):.2f}%, "
          f"max {100 * max(errors):.2f}%; bootstrap interval covers {inside} of {total}")
    print()
    return inside, total


# ------------------------------------------------------------------------------- peer

def peer_chinchilla(configs, cut, folder):
    """The PyPI `chinchilla` package on the same Porian cut, beside ours (fit time and error)."""
    print(f"## Peer: the `chinchilla` package (PyPI) on the same points (fit ≤ {cut:.3g} FLOPs)")
    print()
    sys.path.append(folder)  # after the project's own numpy/scipy, so those stay the ones in use
    try:
        import tempfile

        from chinchilla import Chinchilla
        from chinchilla._metrics import log_huber
    except Exception as exc:  # report why the peer cannot run, whatever it is
        print(f"could not import the chinchilla package from {folder}: {exc!r}")
        print()
        return
    from importlib.metadata import distributions

    version = next((d.version for d in distributions(path=[folder]) if d.metadata["Name"] == "chinchilla"), "?")
    # Its default objective is an asymmetric MAE that fits the floor of the points; run it with
    # its own log-Huber (Hoffmann's objective) too, δ = 1e-3 as ours. Grid: 3 starts per axis
    # (243 BFGS runs, in 128-bit floats); its default needs a grid, it has none built in.
    grid = {"e": np.linspace(-1, 1, 3), "a": np.linspace(0, 20, 3), "b": np.linspace(0, 20, 3),
            "alpha": np.linspace(0.1, 1.0, 3), "beta": np.linspace(0.1, 1.0, 3)}
    print(f"chinchilla {version}; grid of {3 ** 5} starts (e, a, b, alpha, beta), BFGS, serial")
    print()
    print("| configuration | fitter | fit s | " + " | ".join(f"median point error {h}x" for h in HORIZONS) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in HORIZONS) + " |")
    for name, budgets in configs.items():
        if not name.endswith("/val"):
            continue
        train = [b for c, b in budgets.items() if c <= cut * (1 + 1e-9)]
        N, D, L = stack(train)
        ours, t_ours = timed(fit_scaling_law, N, D, L, n_bootstrap=0)
        results = [("scaling-callback (Huber δ=1e-3 on log loss)", ours.law.loss, t_ours)]
        for label, loss_fn in (("chinchilla pkg, default asymmetric MAE", None),
                               ("chinchilla pkg, log_huber δ=1e-3", lambda y, p: log_huber(y, p, 1e-3))):
            with tempfile.TemporaryDirectory() as tmp:
                with open(os.path.join(tmp, "df.csv"), "w", newline="") as f:
                    w = csv.writer(f)
                    w.writerow(["C", "N", "D", "loss"])
                    for n, d, y in zip(N, D, L):
                        w.writerow([6 * n * d, n, d, y])
                kwargs = {} if loss_fn is None else {"loss_fn": loss_fn}
                try:
                    cc = Chinchilla(tmp, param_grid=grid, log_level=40, **kwargs)
                    t = time.perf_counter()
                    cc.fit(parallel=False)
                    seconds = time.perf_counter() - t
                    p = {k: float(v) for k, v in cc.params.items()}
                    results.append((label, lambda n, d, p=p: Chinchilla.predict_loss(n, d, p), seconds))
                except Exception as exc:  # the peer's own failure, reported as a row
                    print(f"| {name} | {label} | failed: {exc!r} | " + " | ".join("" for _ in HORIZONS) + " |")
        for label, predict, seconds in results:
            cells = []
            for h in HORIZONS:
                match = [c for c in budgets if abs(c / (cut * h) - 1) < 1e-6]
                if not match:
                    cells.append("")
                    continue
                n_t, d_t, l_t = budgets[match[0]]
                cells.append(f"{100 * np.median(np.abs(predict(n_t, d_t) - l_t) / l_t):.2f}%")
            print(f"| {name} | {label} | {seconds:.2f} | " + " | ".join(cells) + " |")
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cut", type=float, default=DEFAULT_CUT, help=f"largest fitted Porian budget (default {DEFAULT_CUT:g})")
    p.add_argument("--bootstrap", type=int, default=100, help="resamples for the intervals (default 100)")
    p.add_argument("--confidence", type=float, default=0.8, help="interval level (default 0.8)")
    p.add_argument("--only", default="", help="run only configurations whose name contains this")
    p.add_argument("--peer", metavar="DIR", help="folder holding the PyPI `chinchilla` package")
    p.add_argument("--skip-gadre", action="store_true")
    args = p.parse_args()
    configs = {k: v for k, v in porian_configs().items() if args.only in k}
    try:
        covers = {near: porian_extrapolation(configs, args.cut, args.bootstrap, args.confidence, near)
                  for near in (False, True)}
        porian_exponents(configs)
        g_in, g_total = (0, 0) if args.skip_gadre else gadre_extrapolation(args.bootstrap, args.confidence)
    except ScalingLawError as exc:
        sys.exit(f"extrapolation: {exc}")
    print(f"## Interval coverage (nominal {100 * args.confidence:g}%)")
    print()
    print("| held-out truth | covered | of | rate |")
    print("| --- | --- | --- | --- |")
    for near, cover in covers.items():
        fitted = "near-optimum fit" if near else "all-runs fit"
        for h in HORIZONS:
            for key, what in ((h, f"Porian near-optimum runs at {h}x"), (("opt", h), f"Porian iso-FLOP optimum loss at {h}x")):
                inside, total = cover[key]
                if total:
                    print(f"| {what}, {fitted} | {inside} | {total} | {100 * inside / total:.0f}% |")
    if g_total:
        print(f"| Gadre 1.4B/6.9B runs | {g_in} | {g_total} | {100 * g_in / g_total:.0f}% |")
    print()
    if args.peer:
        peer_chinchilla(configs, args.cut, args.peer)


if __name__ == "__main__":
    main()
