"""Cross-run fits on real points: time, our table beside Besiroglu et al.'s, second real checks.

    python benchmarks/crossrun_fit.py                      # Chinchilla table + Gadre + Porian
    python benchmarks/crossrun_fit.py --bootstrap 1000     # intervals as in docs/crossrun.md
    python benchmarks/crossrun_fit.py --full-grid          # also run all 4,500 Hoffmann starts
    python benchmarks/crossrun_fit.py --check-bootstrap 20 # are bootstrap refits global optima?
    python benchmarks/crossrun_fit.py --write-docs         # 1,000 resamples; tables into docs/crossrun.md
    python benchmarks/crossrun_fit.py --check-docs         # do docs/crossrun.md's tables match the code?

Reads data/scaling (the repository's copy of the public points). Prints; asserts nothing.
With --write-docs the paper's table and the second checks are also written into docs/crossrun.md
between their markers (<!-- crossrun_fit:... -->), and what they are rendered from into
docs/data/crossrun_fit.json; --check-docs renders them again from that file and refits the
Chinchilla points and one Gadre set without bootstrap (tests/test_doc_tables.py).
"""
import argparse
import csv
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from doc_tables import read_data, report_check, stale_blocks, write_block, write_data
from scaling_callback.core.crossrun import ScalingLawError, fit_scaling_law
from scaling_callback.core.crossrun.search import local_fit, objective_on
from scaling_callback.core.crossrun.space import FIT_SPACES

SCALING = Path(__file__).resolve().parents[1] / "data" / "scaling"
PAGE = "crossrun.md"
DATA_NAME = "crossrun_fit"
DOCS_BOOTSTRAP = 1000  # the resamples of the intervals in docs/crossrun.md

# Besiroglu et al. 2024 (arXiv 2404.10102): estimate, 95% CI; and Hoffmann's grid + L-BFGS-B
BESIROGLU = {"E": (1.8169, 1.769, 1.871), "A": (482.01, 285.2, 743.6), "B": (2085.43, 1042.4, 5810.3),
             "alpha": (0.3478, 0.317, 0.373), "beta": (0.3659, 0.331, 0.415)}
HOFFMANN_GRID_LBFGSB = {"E": 1.817, "A": 477.8, "B": 2143.9, "alpha": 0.347, "beta": 0.367}


def rows(name):
    with open(SCALING / name) as f:
        return list(csv.DictReader(f))


def chinchilla_points():
    """Besiroglu et al.'s 240 points: D = C/(6N), the 5 highest losses dropped."""
    r = rows("chinchilla_svg_extracted.csv")
    N, C, L = (np.array([float(x[k]) for x in r]) for k in ("N", "C", "loss"))
    keep = np.argsort(L)[:-5]
    return N[keep], C[keep] / (6 * N[keep]), L[keep]


def timed(f, *a, **k):
    t = time.perf_counter()
    out = f(*a, **k)
    return out, time.perf_counter() - t


def fmt(x):
    return f"{x:.4g}"


def chinchilla_table(n_bootstrap, repeats):
    N, D, L = chinchilla_points()
    times = []
    for _ in range(repeats):
        fit, seconds = timed(fit_scaling_law, N, D, L, n_bootstrap=0)
        times.append(seconds)
    print(f"## Chinchilla Figure 4 points (Besiroglu et al. extraction), {N.size} points")
    print(f"fit without bootstrap: {min(times):.2f} s best of {repeats} "
          f"(all: {', '.join(f'{t:.2f}' for t in times)}); {os.cpu_count()} CPUs visible; target < 10 s")
    boot, seconds = timed(fit_scaling_law, N, D, L, n_bootstrap=n_bootstrap, seed=0)
    print(f"fit with {n_bootstrap} bootstrap resamples: {seconds:.1f} s "
          f"({len(boot.bootstrap_laws)} refits succeeded)")
    print()
    print(paper_table(estimates(boot)))
    print()
    a, b = boot.n_opt_exponent, boot.d_opt_exponent
    print(f"N_opt ∝ C^{fmt(a.value)} [{fmt(a.low)}, {fmt(a.high)}], "
          f"D_opt ∝ C^{fmt(b.value)} [{fmt(b.low)}, {fmt(b.high)}]")
    for C in (5.76e23,):  # Chinchilla's own budget
        p = boot.compute_optimal(C)
        print(f"C = {C:.3g} FLOPs: N_opt {fmt(p.N.value)} [{fmt(p.N.low)}, {fmt(p.N.high)}], "
              f"D_opt {fmt(p.D.value)}, {fmt(p.tokens_per_parameter.value)} tokens/parameter "
              f"[{fmt(p.tokens_per_parameter.low)}, {fmt(p.tokens_per_parameter.high)}], "
              f"loss {fmt(p.loss.value)}")
    kaplan, seconds = timed(fit_scaling_law, N, D, L, form="kaplan", n_bootstrap=0)
    print(f"Kaplan form on the same points ({seconds:.2f} s): "
          + ", ".join(f"{k} {fmt(v.value)}" for k, v in kaplan.parameters.items())
          + f"; objective {kaplan.cost:.4g} vs Chinchilla form {fit.cost:.4g}")
    print()
    return fit, boot


def estimates(fit) -> list:
    """[(parameter, value, low, high)] of a fit, in the law's order."""
    return [(name, est.value, est.low, est.high) for name, est in fit.parameters.items()]


def paper_table(ours) -> str:
    """Our estimates and bootstrap intervals ([(parameter, value, low, high)]) beside Besiroglu et al.'s."""
    lines = ["| parameter | ours | ours 95% CI (bootstrap) | Besiroglu et al. | their 95% CI | "
             "Hoffmann grid + L-BFGS-B (their notebook) | ours inside their CI |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, value, low, high in ours:
        theirs, lo, hi = BESIROGLU[name]
        inside = "yes" if lo <= value <= hi else "NO"
        lines.append(f"| {name} | {fmt(value)} | {fmt(low)}–{fmt(high)} | {fmt(theirs)} | "
                     f"{fmt(lo)}–{fmt(hi)} | {fmt(HOFFMANN_GRID_LBFGSB[name])} | {inside} |")
    return "\n".join(lines)


def full_grid(fit):
    N, D, L = chinchilla_points()
    space = FIT_SPACES["chinchilla"]
    full, seconds = timed(local_fit, space, space.grid, np.log(N), np.log(D), np.log(L), fit.delta)
    law = space.to_law(full.params)
    print(f"## All {len(space.grid)} Hoffmann starts: {seconds:.0f} s")
    print(f"objective {full.cost:.10g} (best 10 of the scored grid: {fit.cost:.10g}); "
          + ", ".join(f"{n} {getattr(law, n):.6g} vs {getattr(fit.law, n):.6g}" for n in law.names))
    print()


def check_bootstrap(name, N, D, L, form, resamples, starts=30):
    """Refit resamples as fit_scaling_law does, and again from the resample's 30 best grid points."""
    space = FIT_SPACES[form]
    logN, logD, logL = np.log(N), np.log(D), np.log(L)
    ranked = space.grid[np.argsort(objective_on(space, space.grid, logN, logD, logL, 1e-3))]
    best = local_fit(space, ranked[:10], logN, logD, logL, 1e-3)
    rng = np.random.default_rng(0)
    worse, gaps = 0, []
    for _ in range(resamples):
        idx = rng.integers(0, N.size, N.size)
        x = logN[idx], logD[idx], logL[idx]
        pick = ranked[:50][np.argmin(objective_on(space, ranked[:50], *x, 1e-3))]
        ours = local_fit(space, [best.params, pick], *x, 1e-3)
        own = space.grid[np.argsort(objective_on(space, space.grid, *x, 1e-3))[:starts]]
        wide = local_fit(space, own, *x, 1e-3)
        if wide.cost < ours.cost * (1 - 1e-6):
            worse += 1
            gaps.append(ours.cost / wide.cost - 1)
    gap = f", objective higher by up to {100 * max(gaps):.1f}%" if gaps else ""
    print(f"{name}, {form}: a {starts}-start search beat the bootstrap refit in {worse} of {resamples} "
          f"resamples{gap}")


def gadre_sets():
    """Gadre et al. 2024: each training set's models, loss on that set's own validation split."""
    own_val = {"c4_original": "c4_val", "rpj": "paloma_redpajama", "rw_original": "paloma_falcon-refinedweb"}
    out = {}
    for train, val in own_val.items():
        r = [x for x in rows("gadre_overtraining.csv") if x["train_dataset"] == train and x["eval_set"] == val]
        out[f"Gadre {train} → {val}"] = tuple(np.array([float(x[k]) for x in r])
                                              for k in ("params", "train_tokens", "eval_loss"))
    return out


def porian_sets():
    """Porian et al. 2024: iso-FLOP points of each RefinedWeb configuration with validation loss."""
    groups = defaultdict(list)
    for x in rows("porian_isoflop.csv"):
        if x["dataset"] != "rw" or x["loss_kind"] != "val":
            continue
        key = f"Porian rw, {x['hparams']} hparams, {x['warmup']} warmup, {x['decay']} decay"
        groups[key].append((float(x["params_N"]), float(x["tokens_D"]), float(x["loss"])))
    return {k: tuple(np.array(c) for c in zip(*v)) for k, v in sorted(groups.items())}


def second_check_row(name, N, D, L, form) -> dict:
    """One fit of the second checks, as its table row reads it."""
    fit, seconds = timed(fit_scaling_law, N, D, L, form=form, n_bootstrap=0)
    try:
        tpp = fmt(fit.compute_optimal(1e21).tokens_per_parameter.value)
    except ScalingLawError:
        tpp = "none (an exponent is 0)"
    return {"data": name, "points": int(N.size), "form": form,
            "parameters": [(k, v.value) for k, v in fit.parameters.items()],
            "n_opt_exponent": fit.n_opt_exponent.value, "tokens_per_parameter": tpp, "cost": fit.cost,
            "seconds": seconds}


def second_check_rows() -> list:
    return [second_check_row(name, N, D, L, form) for name, (N, D, L) in {**gadre_sets(), **porian_sets()}.items()
            for form in ("chinchilla", "kaplan")]


def second_checks_table(rows, with_times=True) -> str:
    """The second checks; without the fit times (which vary from run to run) in the docs."""
    lines = ["| data | points | form | parameters | N_opt exponent | tokens/param at 1e21 FLOPs | objective |"
             + (" fit s |" if with_times else ""),
             "| --- | --- | --- | --- | --- | --- | --- |" + (" --- |" if with_times else "")]
    for r in rows:
        params = ", ".join(f"{k} {fmt(v)}" for k, v in r["parameters"])
        seconds = f" {r['seconds']:.2f} |" if with_times else ""
        lines.append(f"| {r['data']} | {r['points']} | {r['form']} | {params} | {fmt(r['n_opt_exponent'])} | "
                     f"{r['tokens_per_parameter']} | {r['cost']:.4g} |" + seconds)
    return "\n".join(lines)


def second_checks():
    print("## Second real checks (printed, not asserted)")
    rows = second_check_rows()
    print(second_checks_table(rows))
    print()
    return rows


def docs_tables(data) -> dict:
    """{block name: table} of docs/crossrun.md."""
    return {"crossrun_fit:paper": paper_table(data["chinchilla"]),
            "crossrun_fit:second": second_checks_table(data["second"], with_times=False)}


def write_docs(boot, rows) -> None:
    second = [{k: v for k, v in r.items() if k != "seconds"} for r in rows]
    data = {"n_bootstrap": DOCS_BOOTSTRAP, "chinchilla": estimates(boot), "second": second}
    print(f"wrote {write_data(DATA_NAME, data)}")
    for name, table in docs_tables(data).items():
        write_block(PAGE, name, table)
    print(f"wrote the blocks {', '.join(docs_tables(data))} of docs/{PAGE}")


# the second check refitted by --check-docs (a fit of under a second)
RECHECKED = ("Gadre c4_original → c4_val", "chinchilla")


def check_docs() -> int:
    """0 when docs/crossrun.md's tables are those rendered from docs/data/crossrun_fit.json, and the
    Chinchilla point estimates and one second check are what the code fits now; 1 otherwise."""
    data = read_data(DATA_NAME)
    wrong = stale_blocks(PAGE, docs_tables(data))
    fit = fit_scaling_law(*chinchilla_points(), n_bootstrap=0)
    for name, value, _, _ in data["chinchilla"]:
        if not np.isclose(fit.parameters[name].value, value, rtol=1e-9, atol=0):
            wrong.append(f"Chinchilla {name}: recorded {value}, now {fit.parameters[name].value}")
    name, form = RECHECKED
    now = second_check_row(name, *gadre_sets()[name], form)
    recorded = next(r for r in data["second"] if (r["data"], r["form"]) == RECHECKED)
    if second_checks_table([now], False) != second_checks_table([recorded], False):
        wrong.append(f"{name}, {form}: recorded {recorded}, now {now}")
    return report_check(wrong, "crossrun_fit.py")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bootstrap", type=int, default=200, help="resamples for the intervals (default 200)")
    p.add_argument("--repeats", type=int, default=3, help="timed fits without bootstrap (default 3)")
    p.add_argument("--full-grid", action="store_true", help="also fit from all 4,500 grid starts (minutes)")
    p.add_argument("--check-bootstrap", type=int, default=0, metavar="R",
                   help="compare R bootstrap refits with a 30-start search (slow)")
    p.add_argument("--skip-second", action="store_true", help="skip the Gadre/Porian checks")
    p.add_argument("--write-docs", action="store_true",
                   help=f"{DOCS_BOOTSTRAP} resamples; write the tables into docs/crossrun.md and docs/data")
    p.add_argument("--check-docs", action="store_true", help="check docs/crossrun.md's tables against the code")
    args = p.parse_args(argv)
    if args.check_docs:
        return check_docs()
    if args.write_docs:
        if args.skip_second:
            p.error("--write-docs writes the second checks too: drop --skip-second")
        args.bootstrap = DOCS_BOOTSTRAP
    fit, boot = chinchilla_table(args.bootstrap, args.repeats)
    if args.full_grid:
        full_grid(fit)
    if args.check_bootstrap:
        print("## Bootstrap refits against a wider search")
        N, D, L = chinchilla_points()
        gadre = gadre_sets()["Gadre c4_original → c4_val"]
        for name, pts in (("Chinchilla 240", (N, D, L)), ("Gadre c4_original", gadre)):
            for form in ("chinchilla", "kaplan"):
                check_bootstrap(name, *pts, form, args.check_bootstrap)
        print()
    rows = None if args.skip_second else second_checks()
    if args.write_docs:
        write_docs(boot, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
