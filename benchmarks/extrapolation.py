"""Does a cross-run law predict the next, bigger run?  Measured on real points.

    python benchmarks/extrapolation.py                  # Porian + Gadre + coverage (seconds)
    python benchmarks/extrapolation.py --peer /tmp/chinchilla_peer   # + the PyPI `chinchilla` package
    python benchmarks/extrapolation.py --write-docs [--peer DIR]     # the tables into docs/crossrun.md
    python benchmarks/extrapolation.py --check-docs     # do docs/crossrun.md's tables match the code?

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

Reads data/scaling. Prints tables; asserts nothing. With --write-docs (DOCS_BOOTSTRAP resamples,
80% intervals, every configuration) the tables are also written into docs/crossrun.md between
their markers (<!-- extrapolation:... -->) and what they are rendered from into
docs/data/extrapolation.json; the peer's table only when --peer is given (else its recorded rows
are kept). --check-docs renders the tables again from that file and refits one Porian
configuration and one Gadre set with the recorded resamples and seed (tests/test_doc_tables.py).
"""
import argparse
import csv
import os
import sys
import time
from collections import defaultdict

import numpy as np

from crossrun_fit import fmt, rows, timed
from doc_tables import DATA, differences, read_data, report_check, stale_blocks, write_block, write_data
from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law

HORIZONS = (4, 16, 64)  # held-out budgets, as multiples of the largest fitted budget (issue 15)
DEFAULT_CUT = 4e17  # largest fitted Porian budget: 64x beyond it (2.56e19) is their largest
PARABOLA_POINTS = 5  # points around an iso-FLOP minimum that the parabola goes through
NEAR_OPTIMUM = 0.10  # "near-optimum" runs: loss within 10% of their budget's lowest (an iso-FLOP
# profile's far ends are runs nobody would plan: at 1e17 FLOPs a 0.9B model reaches 8.8 against 4.0)
GADRE_SMALL = 0.5e9  # fit on models below this many parameters (Gadre et al.: 0.011B-0.411B)

PAGE = "crossrun.md"
DATA_NAME = "extrapolation"
DOCS_BOOTSTRAP = 30  # resamples behind docs/crossrun.md's intervals (the run they were first typed from)
DOCS_CONFIDENCE = 0.8  # their interval level
# what --check-docs refits (a few seconds): a Porian configuration whose 64x budget exists, one Gadre set
RECHECKED_PORIAN = "owt2 base/short warmup/chinchilla decay/standard N/val"
RECHECKED_GADRE = ("c4_original", "c4_val")
RECHECK_RTOL = 1e-6  # recorded and refitted numbers agree to this (the same code, maybe another BLAS)


def percent(x) -> str:
    return f"{100 * x:.2f}%"


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


def held_out_budget(budgets, target):
    """The budget of `budgets` equal to `target` FLOPs, or None."""
    return next((c for c in budgets if abs(c / target - 1) < 1e-6), None)


def horizon_row(fit, budgets, budget) -> dict:
    """How the law `fit` predicts one held-out budget: its near-optimum runs and its optimum."""
    nopt_true, lopt_true = isoflop_optimum(budgets[budget][0], budgets[budget][2])
    n_t, d_t, l_t = near_optimum(budgets[budget])
    err = np.abs(fit.law.loss(n_t, d_t) - l_t) / l_t
    plan = fit.compute_optimal(budget)
    row = {"budget": budget, "held_out": int(n_t.size), "point_error": float(np.median(err)),
           "lopt_true": lopt_true, "lopt_predicted": plan.loss.value,
           "lopt_error": abs(plan.loss.value - lopt_true) / lopt_true, "nopt_true": nopt_true,
           "nopt_predicted": plan.N.value,
           "nopt_factor": max(plan.N.value / nopt_true, nopt_true / plan.N.value),
           "covered": None, "optimum_covered": None}
    if fit.bootstrap_laws:
        estimates = [fit.expected_loss(float(n), float(d)) for n, d in zip(n_t, d_t)]
        row["covered"] = sum(int(e.low <= y <= e.high) for e, y in zip(estimates, l_t))
        row["optimum_covered"] = plan.loss.low <= lopt_true <= plan.loss.high
    return row


def porian_config_rows(name, budgets, cut, n_bootstrap, confidence, near) -> list:
    """One configuration fitted on the budgets up to `cut` (all runs, or the near-optimum ones):
    a row per held-out horizon it reaches, each with the fit's time under "seconds"."""
    train = [near_optimum(b) if near else b for c, b in budgets.items() if c <= cut * (1 + 1e-9)]
    N, D, L = stack(train)
    fit, seconds = timed(fit_scaling_law, N, D, L, n_bootstrap=n_bootstrap, confidence=confidence)
    out = []
    for h in HORIZONS:
        budget = held_out_budget(budgets, cut * h)
        if budget is not None:
            out.append({"near": near, "configuration": name, "fit_points": int(N.size), "horizon": h,
                        **horizon_row(fit, budgets, budget), "seconds": seconds})
    return out


def fitted_on(near) -> str:
    return (f"near-optimum runs (loss within {100 * NEAR_OPTIMUM:g}% of the budget's lowest)" if near
            else "all runs")


def porian_detail_table(rows) -> str:
    """Every configuration and horizon of one way of fitting (printed only: the docs give the summary)."""
    lines = ["| configuration | fit points | fit s | horizon | held-out runs | median point error | L_opt true | "
             "L_opt predicted | L_opt error | N_opt true | N_opt predicted | N_opt factor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['configuration']} | {r['fit_points']} | {r['seconds']:.1f} | {r['horizon']}x "
                     f"({r['budget']:.3g}) | {r['held_out']} | {percent(r['point_error'])} | {r['lopt_true']:.3f} | "
                     f"{r['lopt_predicted']:.3f} | {percent(r['lopt_error'])} | {fmt(r['nopt_true'])} | "
                     f"{fmt(r['nopt_predicted'])} | {r['nopt_factor']:.2f} |")
    return "\n".join(lines)


def porian_summary_table(rows) -> str:
    """Median across configurations, per way of fitting and horizon."""
    lines = ["| fitted on | horizon | configurations | median point error | median L_opt error | "
             "median N_opt factor |", "| --- | --- | --- | --- | --- | --- |"]
    for near, label in ((False, "all runs of the fitted budgets"), (True, "near-optimum runs only")):
        for h in HORIZONS:
            sel = [r for r in rows if r["near"] == near and r["horizon"] == h]
            if sel:
                median = {k: np.median([r[k] for r in sel]) for k in ("point_error", "lopt_error", "nopt_factor")}
                lines.append(f"| {label} | {h}× | {len(sel)} | {percent(median['point_error'])} | "
                             f"{percent(median['lopt_error'])} | {median['nopt_factor']:.2f} |")
                label = ""
    return "\n".join(lines)


def porian_extrapolation(configs, cut, n_bootstrap, confidence) -> list:
    """Per way of fitting, configuration and horizon: held-out errors and coverage (printed)."""
    out = []
    for near in (False, True):
        print(f"## Porian et al. iso-FLOP points: fit {fitted_on(near)} of budgets ≤ {cut:.3g} FLOPs, "
              "predict " + ", ".join(f"{h}x" for h in HORIZONS) + " beyond")
        print(f"(chinchilla form, {n_bootstrap} bootstrap resamples, {100 * confidence:g}% intervals; errors "
              "are |predicted − true| / true, point errors over the held-out budget's near-optimum runs; "
              "N_opt error is the factor max(p/t, t/p))")
        print()
        found = [r for name, budgets in configs.items()
                 for r in porian_config_rows(name, budgets, cut, n_bootstrap, confidence, near)]
        print(porian_detail_table(found))
        print()
        out += found
    print("Summary (median across configurations):")
    print()
    print(porian_summary_table(out))
    print()
    return out


def exponent_row(name, budgets) -> dict:
    """a from the law fitted on every budget, beside a from the iso-FLOP minima (their method)."""
    N, D, L = stack(list(budgets.values()))
    fit = fit_scaling_law(N, D, L, n_bootstrap=0)
    C = np.array(list(budgets))
    nopt = np.array([isoflop_optimum(b[0], b[2])[0] for b in budgets.values()])
    return {"configuration": name, "a_law": fit.n_opt_exponent.value,
            "a_isoflop": float(np.polyfit(np.log(C), np.log(nopt), 1)[0])}


def exponents_table(rows) -> str:
    lines = ["| configuration | a from our law (all budgets) | a from iso-FLOP minima (parabola vertices, "
             "power-law fit) |", "| --- | --- | --- |"]
    lines += [f"| {r['configuration']} | {r['a_law']:.3f} | {r['a_isoflop']:.3f} |" for r in rows]
    return "\n".join(lines)


def porian_exponents(configs) -> list:
    print("## Compute-optimal exponent a (N_opt ∝ C^a), every budget of each configuration")
    print()
    out = [exponent_row(name, budgets) for name, budgets in configs.items()]
    print(exponents_table(out))
    print()
    return out


# ------------------------------------------------------------------------------- Gadre

OWN_VAL = {"c4_original": "c4_val", "rpj": "paloma_redpajama", "rw_original": "paloma_falcon-refinedweb"}
GADRE_SETS = tuple((train, ev) for train, own in OWN_VAL.items()
                   for ev in ((own, "c4_val") if own != "c4_val" else (own,)))


def gadre_set_rows(train, ev, n_bootstrap, confidence) -> list:
    """One training set on one eval set: fitted below GADRE_SMALL, each bigger run predicted."""
    r = [x for x in rows("gadre_overtraining.csv") if x["train_dataset"] == train and x["eval_set"] == ev]
    N, D, L = (np.array([float(x[k]) for x in r]) for k in ("params", "train_tokens", "eval_loss"))
    small = N < GADRE_SMALL
    fit = fit_scaling_law(N[small], D[small], L[small], n_bootstrap=n_bootstrap, confidence=confidence)
    out = []
    for i in np.flatnonzero(~small)[np.argsort(N[~small] * 1e3 + D[~small] / N[~small])]:
        est = fit.expected_loss(float(N[i]), float(D[i]))
        out.append({"train": train, "eval": ev, "fit_points": int(small.sum()), "N": float(N[i]),
                    "D": float(D[i]), "loss": float(L[i]), "predicted": est.value, "low": est.low,
                    "high": est.high})
    return out


def gadre_inside(r) -> bool:
    return r["low"] is not None and r["low"] <= r["loss"] <= r["high"]


def gadre_table(rows, confidence) -> str:
    lines = ["| training set | eval set | fit points | target N | M | true loss | predicted | "
             f"{100 * confidence:g}% interval | relative error | inside |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        interval = "" if r["low"] is None else f"{r['low']:.3f}–{r['high']:.3f}"
        lines.append(f"| {r['train']} | {r['eval']} | {r['fit_points']} | {r['N'] / 1e9:.2f}B | "
                     f"{r['D'] / r['N']:.0f} | {r['loss']:.3f} | {r['predicted']:.3f} | {interval} | "
                     f"{percent(abs(r['predicted'] - r['loss']) / r['loss'])} | "
                     f"{'yes' if gadre_inside(r) else 'no'} |")
    return "\n".join(lines)


def gadre_extrapolation(n_bootstrap, confidence) -> list:
    print(f"## Gadre et al.: fit on models < {GADRE_SMALL / 1e9:g}B parameters (all multipliers), "
          "predict the 1.4B and 6.9B models")
    print("(chinchilla form on total parameters and training tokens; M = tokens per parameter)")
    print()
    out = [r for train, ev in GADRE_SETS for r in gadre_set_rows(train, ev, n_bootstrap, confidence)]
    print(gadre_table(out, confidence))
    print()
    errors = [abs(r["predicted"] - r["loss"]) / r["loss"] for r in out]
    print(f"median relative error over {len(errors)} targets: {percent(np.median(errors))}, "
          f"max {percent(max(errors))}; bootstrap interval covers {sum(map(gadre_inside, out))} of "
          f"{sum(r['low'] is not None for r in out)}")
    print()
    return out


# ------------------------------------------------------------------------------- coverage

def coverage_table(porian, gadre) -> str:
    """How often the intervals cover the held-out truth (rows without intervals left out)."""
    lines = ["| held-out truth | covered | of | rate |", "| --- | --- | --- | --- |"]

    def line(what, inside, total):
        if total:
            lines.append(f"| {what} | {inside} | {total} | {100 * inside / total:.0f}% |")

    for near in (False, True):
        fitted = "near-optimum fit" if near else "all-runs fit"
        for h in HORIZONS:
            sel = [r for r in porian if r["near"] == near and r["horizon"] == h and r["covered"] is not None]
            line(f"Porian near-optimum runs at {h}×, {fitted}", sum(r["covered"] for r in sel),
                 sum(r["held_out"] for r in sel))
            line(f"Porian iso-FLOP optimum loss at {h}×, {fitted}", sum(r["optimum_covered"] for r in sel), len(sel))
    with_interval = [r for r in gadre if r["low"] is not None]
    line("Gadre 1.4B/6.9B runs", sum(map(gadre_inside, with_interval)), len(with_interval))
    return "\n".join(lines)


# ------------------------------------------------------------------------------- peer

PEER_GRID_STARTS = 3  # starts per parameter of the peer's grid (3^5 = 243 BFGS runs): it has none built in


def import_peer(folder):
    """(Chinchilla, log_huber, version) of the `chinchilla` package in `folder`; None and a printed
    reason when it cannot be imported."""
    sys.path.append(folder)  # after the project's own numpy/scipy, so those stay the ones in use
    try:
        from chinchilla import Chinchilla
        from chinchilla._metrics import log_huber
    except Exception as exc:  # report why the peer cannot run, whatever it is
        print(f"could not import the chinchilla package from {folder}: {exc!r}")
        print()
        return None
    from importlib.metadata import distributions

    version = next((d.version for d in distributions(path=[folder]) if d.metadata["Name"] == "chinchilla"), "?")
    return Chinchilla, log_huber, version


def peer_fit(Chinchilla, N, D, L, loss_fn):
    """(predict(N, D), seconds) of the peer fitted on the points, with `loss_fn` (None: its default)."""
    import tempfile

    # Its default objective is an asymmetric MAE that fits the floor of the points; run it with
    # its own log-Huber (Hoffmann's objective) too, δ = 1e-3 as ours.
    grid = {"e": np.linspace(-1, 1, PEER_GRID_STARTS), "a": np.linspace(0, 20, PEER_GRID_STARTS),
            "b": np.linspace(0, 20, PEER_GRID_STARTS), "alpha": np.linspace(0.1, 1.0, PEER_GRID_STARTS),
            "beta": np.linspace(0.1, 1.0, PEER_GRID_STARTS)}
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "df.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["C", "N", "D", "loss"])
            for n, d, y in zip(N, D, L):
                w.writerow([6 * n * d, n, d, y])
        kwargs = {} if loss_fn is None else {"loss_fn": loss_fn}
        cc = Chinchilla(tmp, param_grid=grid, log_level=40, **kwargs)
        t = time.perf_counter()
        cc.fit(parallel=False)
        seconds = time.perf_counter() - t
    p = {k: float(v) for k, v in cc.params.items()}
    return (lambda n, d: Chinchilla.predict_loss(n, d, p)), seconds


def peer_errors(budgets, cut, predict) -> list:
    """Median point error over every run of each held-out budget (None where it is absent)."""
    out = []
    for h in HORIZONS:
        budget = held_out_budget(budgets, cut * h)
        if budget is None:
            out.append(None)
            continue
        n_t, d_t, l_t = budgets[budget]
        out.append(float(np.median(np.abs(predict(n_t, d_t) - l_t) / l_t)))
    return out


def peer_config_rows(name, budgets, cut, peer) -> list:
    Chinchilla, log_huber, _ = peer
    N, D, L = stack([b for c, b in budgets.items() if c <= cut * (1 + 1e-9)])
    ours, seconds = timed(fit_scaling_law, N, D, L, n_bootstrap=0)
    out = [{"configuration": name, "fitter": "scaling-callback (Huber δ=1e-3 on log loss)", "seconds": seconds,
            "errors": peer_errors(budgets, cut, ours.law.loss)}]
    for label, loss_fn in (("chinchilla pkg, default asymmetric MAE", None),
                           ("chinchilla pkg, log_huber δ=1e-3", lambda y, p: log_huber(y, p, 1e-3))):
        try:
            predict, seconds = peer_fit(Chinchilla, N, D, L, loss_fn)
            out.append({"configuration": name, "fitter": label, "seconds": seconds,
                        "errors": peer_errors(budgets, cut, predict)})
        except Exception as exc:  # the peer's own failure, reported as a row
            out.append({"configuration": name, "fitter": label, "failed": repr(exc)})
    return out


def peer_table(rows) -> str:
    lines = ["| configuration | fitter | fit s | " + " | ".join(f"median point error {h}×" for h in HORIZONS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in HORIZONS) + " |"]
    for i, r in enumerate(rows):
        name = "" if i and rows[i - 1]["configuration"] == r["configuration"] else r["configuration"]
        if "failed" in r:
            lines.append(f"| {name} | {r['fitter']} | failed: {r['failed']} |" + " |" * len(HORIZONS))
            continue
        cells = ["" if e is None else percent(e) for e in r["errors"]]
        lines.append(f"| {name} | {r['fitter']} | {r['seconds']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peer_chinchilla(configs, cut, folder):
    """The PyPI `chinchilla` package on the same Porian cut, beside ours (fit time and error):
    (version, rows), or None when it cannot be imported."""
    print(f"## Peer: the `chinchilla` package (PyPI) on the same points (fit ≤ {cut:.3g} FLOPs)")
    print()
    peer = import_peer(folder)
    if peer is None:
        return None
    print(f"chinchilla {peer[2]}; grid of {PEER_GRID_STARTS ** 5} starts (e, a, b, alpha, beta), BFGS, serial")
    print()
    out = [r for name, budgets in configs.items() if name.endswith("/val")
           for r in peer_config_rows(name, budgets, cut, peer)]
    print(peer_table(out))
    print()
    return peer[2], out


# ------------------------------------------------------------------------------- docs

def docs_tables(data) -> dict:
    """{block name: table} of docs/crossrun.md, rendered from the recorded results."""
    tables = {"extrapolation:porian": porian_summary_table(data["porian"]),
              "extrapolation:exponents": exponents_table(data["exponents"]),
              "extrapolation:gadre": gadre_table(data["gadre"], data["confidence"]),
              "extrapolation:coverage": coverage_table(data["porian"], data["gadre"])}
    if data.get("peer"):
        tables["extrapolation:peer"] = peer_table(data["peer"])
    return tables


def write_docs(porian, exponents, gadre, peer) -> None:
    """The results into docs/data/extrapolation.json and the tables into docs/crossrun.md; without a
    peer run, the peer's recorded rows are kept."""
    data = {"cut": DEFAULT_CUT, "n_bootstrap": DOCS_BOOTSTRAP, "confidence": DOCS_CONFIDENCE,
            "porian": [{k: v for k, v in r.items() if k != "seconds"} for r in porian],
            "exponents": exponents, "gadre": gadre}
    if peer is None:
        old = read_data(DATA_NAME) if os.path.exists(os.path.join(DATA, DATA_NAME + ".json")) else {}
        peer = (old.get("peer_version"), old.get("peer")) if old.get("peer") else None
        print("no peer run (--peer): its recorded rows are kept" if peer else "no peer run and none recorded")
    if peer is not None:
        data["peer_version"], data["peer"] = peer
    print(f"wrote {write_data(DATA_NAME, data)}")
    for name, table in docs_tables(data).items():
        write_block(PAGE, name, table)
    print(f"wrote the blocks {', '.join(docs_tables(data))} of docs/{PAGE}")


def recheck(data) -> list:
    """Refit one Porian configuration (both ways, with the recorded resamples) and its exponents,
    and one Gadre set, and compare with the recorded results."""
    budgets = porian_configs()[RECHECKED_PORIAN]
    wrong = []
    for near in (False, True):
        found = porian_config_rows(RECHECKED_PORIAN, budgets, data["cut"], data["n_bootstrap"], data["confidence"], near)
        now = [{k: v for k, v in r.items() if k != "seconds"} for r in found]
        recorded = [r for r in data["porian"] if r["configuration"] == RECHECKED_PORIAN and r["near"] == near]
        wrong += differences(f"Porian {RECHECKED_PORIAN} ({fitted_on(near)})", recorded, now, RECHECK_RTOL)
    recorded = [r for r in data["exponents"] if r["configuration"] == RECHECKED_PORIAN]
    wrong += differences("exponents", recorded, [exponent_row(RECHECKED_PORIAN, budgets)], RECHECK_RTOL)
    now = gadre_set_rows(*RECHECKED_GADRE, data["n_bootstrap"], data["confidence"])
    recorded = [r for r in data["gadre"] if (r["train"], r["eval"]) == RECHECKED_GADRE]
    wrong += differences(f"Gadre {RECHECKED_GADRE}", recorded, now, RECHECK_RTOL)
    ours = [r for r in data.get("peer") or [] if r["configuration"] == RECHECKED_PORIAN
            and r["fitter"].startswith("scaling-callback")]
    if ours:
        fit = fit_scaling_law(*stack([b for c, b in budgets.items() if c <= data["cut"] * (1 + 1e-9)]), n_bootstrap=0)
        wrong += differences("peer table, our row", ours[0]["errors"], peer_errors(budgets, data["cut"], fit.law.loss),
                             RECHECK_RTOL)
    return wrong


def check_docs() -> int:
    """0 when docs/crossrun.md's extrapolation tables are those rendered from
    docs/data/extrapolation.json and a refitted subset of it is what the code computes now; 1 otherwise."""
    data = read_data(DATA_NAME)
    wrong = stale_blocks(PAGE, docs_tables(data))
    wrong += recheck(data)
    return report_check(wrong, "extrapolation.py")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cut", type=float, default=DEFAULT_CUT, help=f"largest fitted Porian budget (default {DEFAULT_CUT:g})")
    p.add_argument("--bootstrap", type=int, default=100, help="resamples for the intervals (default 100)")
    p.add_argument("--confidence", type=float, default=0.8, help="interval level (default 0.8)")
    p.add_argument("--only", default="", help="run only configurations whose name contains this")
    p.add_argument("--peer", metavar="DIR", help="folder holding the PyPI `chinchilla` package")
    p.add_argument("--skip-gadre", action="store_true")
    p.add_argument("--write-docs", action="store_true", help=f"{DOCS_BOOTSTRAP} resamples, {DOCS_CONFIDENCE:g} "
                   "intervals, every configuration; write the tables into docs/crossrun.md and docs/data")
    p.add_argument("--check-docs", action="store_true", help="check docs/crossrun.md's tables against the code")
    args = p.parse_args(argv)
    if args.check_docs:
        return check_docs()
    if args.write_docs:
        if args.only or args.skip_gadre or args.cut != DEFAULT_CUT:
            p.error("--write-docs writes every table at the default cut: drop --only, --skip-gadre and --cut")
        args.bootstrap, args.confidence = DOCS_BOOTSTRAP, DOCS_CONFIDENCE
    configs = {k: v for k, v in porian_configs().items() if args.only in k}
    try:
        porian = porian_extrapolation(configs, args.cut, args.bootstrap, args.confidence)
        exponents = porian_exponents(configs)
        gadre = [] if args.skip_gadre else gadre_extrapolation(args.bootstrap, args.confidence)
    except ScalingLawError as exc:
        sys.exit(f"extrapolation: {exc}")
    print(f"## Interval coverage (nominal {100 * args.confidence:g}%)")
    print()
    print(coverage_table(porian, gadre))
    print()
    peer = peer_chinchilla(configs, args.cut, args.peer) if args.peer else None
    if args.write_docs:
        write_docs(porian, exponents, gadre, peer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
