"""Which rule for choosing the exponent prior log α ~ N(μ, σ) carries to a source it has not seen.

    python3 benchmarks/studies/exponent_prior_rules.py

For each development source, the fitting priors (noise, drop prior) are learnt without it
(`learning.fitting_priors`), every run of every source is forecast from 20/40/60/80% of its
curve by the power/multi-power grid (`learn_priors.forecast_cases`: the grid's mixture median,
without the log-linear and rising laws that forecast() may choose instead, so cpu_gpt's early
numbers are the grid's, not forecast()'s), and each rule picks (μ, σ) on the grid from the other
sources' forecasts alone. The table shows the held-out source's median |error| and signed bias
(median of forecast/final − 1) per cutoff, in %, under each rule's choice:

  geometric  the lowest mean over sources of log(median |error|) (`learn_priors.tune_exponent_prior`,
             the rule in use)
  new-source μ the mean of the sources' own best means and σ² their mean σ² plus the variance
             of their means (a predictive prior for a new source, as the drop prior's sd is)
  regret     the lowest worst-source regret: max over sources of log(median |error|) minus that
             source's own best log(median |error|)
  own best   the held-out source's own best (μ, σ): what no rule can know, for scale

The last row: the geometric mean over all (source, cutoff) cells of each rule's median |error|
relative to the rule in use (< 1: better). About 3 minutes on two cores.
"""
from __future__ import annotations

import os
from multiprocessing import Pool

import numpy as np

from scaling_callback.core.forecast.learning import (LOG_ALPHA_MEANS, LOG_ALPHA_SDS, fitting_priors, forecast_cases,
                                                     log_typical_error, relative_errors, tune_exponent_prior)
from scaling_callback.runs import CUTOFFS, SOURCES, load_runs

GRID = [(float(m), s) for m in LOG_ALPHA_MEANS for s in LOG_ALPHA_SDS]


def choices(cases, train_sources):
    """{rule: (μ, σ)} chosen from the forecasts of train_sources only."""
    train = np.isin(cases.source, train_sources)
    sub = type(cases)(*(getattr(cases, f)[train] for f in cases.__dataclass_fields__))
    score = {}
    for g in GRID:
        err = relative_errors(sub, g)
        score[g] = {s: log_typical_error(err, sub.source, s) for s in train_sources}
    best = {s: min(GRID, key=lambda g: score[g][s]) for s in train_sources}
    mus = np.array([best[s][0] for s in train_sources])
    sds = np.array([best[s][1] for s in train_sources])
    return {"geometric": tune_exponent_prior(sub),
            "new-source": (float(mus.mean()), float(np.sqrt(np.mean(sds ** 2) + mus.var()))),
            "regret": min(GRID, key=lambda g: max(score[g][s] - score[best[s]][s] for s in train_sources))}


def held_out(source):
    """(source, {rule: ((μ, σ), [median |error| per cutoff], [bias per cutoff])}) left one source out."""
    runs = load_runs()
    train_sources = sorted({r.source for r in runs} - {source})
    cases = forecast_cases(runs, fitting_priors([r for r in runs if r.source != source]))
    rules = choices(cases, train_sources)
    mine = cases.source == source
    rules["own best"] = min(GRID, key=lambda g: log_typical_error(relative_errors(cases, g), cases.source, source))
    out = {}
    for rule, g in rules.items():
        err = relative_errors(cases, g)
        cells = [err[mine & (cases.cutoff == c)] for c in CUTOFFS]
        out[rule] = (g, [float(np.median(np.abs(e))) for e in cells], [float(np.median(e)) for e in cells])
    return source, out


def main():
    with Pool(min(2, os.cpu_count() or 1)) as pool:
        results = dict(pool.map(held_out, SOURCES, chunksize=1))
    cuts = "/".join(f"{int(100 * c)}" for c in CUTOFFS) + "%"
    print(f"| held-out source | rule | (μ, σ) | median abs error % at {cuts} | signed bias % at {cuts} |")
    print("| --- | --- | --- | --- | --- |")
    for source in SOURCES:
        for rule, (g, med, bias) in results[source].items():
            print(f"| {source} | {rule} | ({g[0]:+.2f}, {g[1]:.2f}) | " + " / ".join(f"{100 * m:.2f}" for m in med)
                  + " | " + " / ".join(f"{100 * b:+.2f}" for b in bias) + " |")
    rules = [r for r in results[SOURCES[0]] if r not in ("geometric", "own best")]
    ratio = {r: float(np.exp(np.mean([np.log(max(m, 1e-12) / max(m0, 1e-12)) for s in SOURCES
                                       for m, m0 in zip(results[s][r][1], results[s]["geometric"][1])])))
             for r in rules}
    print("\nmedian |error| relative to the rule in use, geometric mean over every (source, cutoff): "
          + ", ".join(f"{r} {v:.3f}" for r, v in ratio.items()))


if __name__ == "__main__":
    main()
