"""Learning the forecaster's priors and interval from complete curves (numpy only).

What `tools/learn_priors.py` prints as DEFAULT_PRIORS (scaling_callback/core/forecast/priors.py)
is `learn_priors(runs, start_priors())` on the development runs of scaling_callback.runs.
A run is any object with `run_id`, `source`, `final_step`, `final_loss`, `lr` (the planned
schedule's (steps, lr) knots or None) and `seen(cutoff)` ((steps, losses) up to cutoff·final_step).

1. Every complete curve whose schedule decays is fitted with the forecaster's own law and flat
   priors, once per candidate shape of the drop kernel. The best shape gets the curve's vote (a
   shape's prior weight is its share of votes, every source weighing the same) and gives the
   drop the decay realised, per unit of decay depth, as a fraction of the loss without it. That
   drop grows with the fraction f of the run spent decaying: the prior is the line a + b·f
   fitted across curves (every source weighing the same) with the scatter about it as sd
   (between-source and within-source scatter added: a new run may come from a new source).
2. Every run is then forecast from 20/40/60/80% of its curve. The exponent prior log α ~
   N(mean, sd) cannot be read off complete curves (a curve's local exponent drifts, and what a
   forecast needs is the exponent that carries the curve seen so far to its end), so it is the
   (mean, sd) on a grid under which the forecasts of the realised final losses are most
   accurate: the lowest geometric mean over sources of their median relative error. Changing it
   only reweights the forecaster's exponent grid, so every candidate is scored without refitting.
3. The interval, by split-conformal calibration across sources (forecast.interval.calibrated): every
   run is forecast again from every cutoff under the learnt priors, exactly as forecast() does
   (the rising and log-linear laws too); each forecast's error e = (final − m)/m is
   standardised as z = sign(e)·√(e² − (1.28·noise)²)/S (0 within the noise of one validation
   loss), S = √((w_o·own)² + D²), D = √((w_h·g_h)² + (w_s·g_s)² + (w_a·g_a)²) the
   misspecification term, with the fixed weights INTERVAL_WEIGHTS (chosen by
   benchmarks/studies/interval_weights.py); z_lo and z_hi are the most extreme of the sources'
   10% and 90% quantiles of z (`calibrate`).
   The drop prior's sd is the predictive sd for a new source.
The noise prior is the typical relative rms residual of a law fitted to a whole curve. Learning
starts from START (not from the baked DEFAULT_PRIORS), so the output depends only on the runs,
the window and the kernel shape.
"""
from __future__ import annotations

import dataclasses

import numpy as np

# internals: the learnt priors must be those of this exact computation
from . import forecast
from .fit import fitted_posterior, overfitting_from
from .grid import grid_posterior
from .inputs import clean_history
from .interval import Z80, RawBand, interval_scale, standardised_error
from .law import LOG_LINEAR, decay_fraction
from .normal import mixture_quantiles
from .priors import DropPrior, ForecastPriors
from ..schedules import multi_power_drop, normalized_schedule

# The fractions of a run's planned steps a forecast is made from (the shared scorer,
# ../shared/tools/score_forecasts.py, scores the same four).
CUTOFFS = (0.2, 0.4, 0.6, 0.8)
# Fewest validation points a forecast at a cutoff is scored from (the shared scorer's rule).
MIN_POINTS_SEEN = 3
FLAT = 100.0  # prior sd that lets a complete curve speak for itself
MIN_DEPTH = 0.3  # a schedule whose rate falls by less than this tells little about b
# Candidate drop-kernel shapes (C, β, γ). Luo et al.'s fit (β = 0.59, γ = 0.64, and C = 2.07 at
# their peak rate 3e-4, i.e. 2.07·(3e-4)^(1 − 0.64) ≈ 0.11 per step with η normalised to its
# peak). Slower, faster and exponential (Tissue-like) kernels were tried as a mixture: they fit
# some sources' decays better and others' worse, and left-one-source-out forecasts were no better.
CANDIDATE_SHAPES = ((0.11, 0.59, 0.64),)
# The grid the exponent prior (mean, sd) of log α is tuned on (`tune_exponent_prior`): wide
# enough that no development source's own best prior lies on its edge
# (benchmarks/studies/exponent_prior_rules.py, "own best").
LOG_ALPHA_MEANS = np.round(np.arange(-2.0, 1.01, 0.1), 2)
LOG_ALPHA_SDS = (0.1, 0.15, 0.2, 0.3, 0.5, 0.8, 1.2)
# Floor of a source's median |error| before its log is taken: a source forecast exactly would
# otherwise weigh −inf in the geometric mean (`typical_error`).
MIN_TYPICAL_ERROR = 1e-12
# The weights (w_o, w_h, w_s, w_a) of the interval's scale (`interval_scale`; the noise of one
# validation loss enters beside it at its own quantile, `half_width`). Fixed, not learnt per
# run: the fit's own spread, the hindcast's error carried to the target, the shift a vaguer
# exponent prior makes, and a tenth of the improvement still forecast. Chosen by
# `python3 benchmarks/studies/interval_score.py` on the mean interval score of the 80% interval
# left one source out, among the weights and calibrations whose coverage held on every source
# (docs/forecast.md, "The interval"); the earlier choice by coverage alone was 5-45× the error wide.
INTERVAL_WEIGHTS = (0.25, 1.0, 1.0, 0.2)  # (w_o, w_h, w_s, w_a)
# Whether forecasts across a decay not yet begun get their own calibration (`calibrate_before_decay`):
# not, by the same study: the split widened the forecasts before a decay more than it gained.
SPLIT_BEFORE_DECAY = False
CONFIDENCE = 0.8  # the interval's nominal coverage (forecast()'s 80% interval)
# A source's quantile enters the calibration of forecasts before a decay only from this many of
# them: a 10% quantile of fewer rests on one forecast (modded-nanogpt track 2 has 25, MultiPowerLaw 36)
MIN_SOURCE_FORECASTS = 15
# Rounding of the learnt noise prior and drop-shape weights, as DEFAULT_PRIORS prints them.
NOISE_DIGITS = 5
WEIGHT_DIGITS = 4
# Half a vote spread over all drop shapes, so that none is ruled out by a few curves (`shape_weights`).
SPREAD_VOTES = 0.5
# where learning starts: vague priors, the fitting rules of the forecaster (window, min_fraction)
START = ForecastPriors(log_alpha=(-0.7, 1.0), anneal=(0.03, 0.0, 0.02), drops=(DropPrior(*CANDIDATE_SHAPES[0], 1.0),),
                       noise=0.002, interval_own=1.0, interval_hindcast=0.0, interval_sensitivity=0.0,
                       interval_ahead=0.0,
                       interval_z=(-Z80, Z80), min_fraction=0.02, window=1.0)
# The vague drop prior in nats (a, b, sd) of `start_priors(nats=True)`: the sources' medians are
# 0.13-0.27 nats per unit depth (benchmarks/studies/cooldown_drop.py, table 2).
START_ANNEAL_NATS = (0.1, 0.0, 0.1)


def forecast_points(runs, cutoffs=CUTOFFS):
    """(run, cutoff, steps, losses) for every run and cutoff at which the forecast sees at least
    MIN_POINTS_SEEN validation points."""
    for run in runs:
        for cut in cutoffs:
            steps, losses = run.seen(cut)
            if len(steps) >= MIN_POINTS_SEEN:
                yield run, cut, steps, losses


# ------------------------------------------------------------------------------------------
# 1. complete curves: the noise, the drop prior and the kernel's shape

def schedule_depth(run) -> float:
    """How far the planned learning rate falls from its peak by the end, as a fraction."""
    knots = run.lr
    if knots is None:
        return 0.0
    lr = knots[1][np.isfinite(knots[1])]
    peak = lr.max() if len(lr) else 0.0
    return float(1.0 - lr[-1] / peak) if peak > 0 else 0.0


def fit_complete(run, priors: ForecastPriors):
    """The forecaster's law fitted to the whole curve: (Forecast, relative rms residual)."""
    steps, losses = run.seen(1.0)
    fc = forecast(steps, losses, lr=run.lr, target_step=run.final_step, priors=priors)
    if not fc.ok:
        return fc, np.inf
    mid, _, _ = fc.predict(steps)
    keep = steps >= priors.min_fraction * run.final_step
    return fc, float(np.sqrt(np.mean((losses[keep] / mid[keep] - 1.0) ** 2)))


def run_schedule(run) -> np.ndarray:
    """The run's planned learning rate at every step 0..final_step, divided by its peak."""
    knots_steps, knots_lr = run.lr
    return normalized_schedule(np.interp(np.arange(run.final_step + 1, dtype=float), knots_steps, knots_lr))


def realised_drop(fc, run, nats: bool = False) -> float:
    """B·LD(T)/B / ((1 − η_T)·(E + A)) of a law fitted to the whole curve (x_T = 1 there): the
    drop per unit decay depth as a fraction of the loss without it; with `nats`, B·LD(T)/B /
    (1 − η_T), in the loss's own units (ForecastPriors.anneal_nats; benchmarks/studies/cooldown_drop.py,
    table 2, compares the two left one source out)."""
    p = fc.params
    eta = run_schedule(run)
    drop = p["B"] * multi_power_drop(eta, [run.final_step], p["C"], p["beta"], p["gamma"],
                                     power=p.get("power", 1.0))[0]
    return float(drop / (1.0 - eta[-1]) if nats else drop / ((1.0 - eta[-1]) * (p["E"] + p["A"])))


def pooled_line(points_by_source):
    """(a, b, sd) of y ≈ a + b·f by least squares, every source weighing the same. sd² is the
    predictive variance for a run of a new source: the between-source variance of the
    per-source mean residuals (unbiased, and × (1 + 1/G) for the uncertainty of the pooled
    line itself, G sources) + the mean within-source residual variance. With the few sources
    there are, the plain variance of G means would understate how far a new source can be."""
    groups = [np.asarray(v, float) for v in points_by_source.values() if len(v)]
    f = np.concatenate([g[:, 0] for g in groups])
    y = np.concatenate([g[:, 1] for g in groups])
    w = np.concatenate([np.full(len(g), 1.0 / len(g)) for g in groups])
    X = np.stack([np.ones_like(f), f], axis=1)
    a, b = np.linalg.lstsq(X * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    resid = [g[:, 1] - a - b * g[:, 0] for g in groups]
    means = np.array([r.mean() for r in resid])
    within = np.array([r.var() for r in resid])
    G = len(groups)
    between = (np.sum(means ** 2) / max(G - 1, 1)) * (1.0 + 1.0 / G)  # residual means about 0
    return float(a), float(b), float(np.sqrt(between + within.mean()))


def best_shape_fit(run, base: ForecastPriors, shapes):
    """(index of the shape whose flat-prior fit of the whole curve has the lowest rms residual,
    that fit), or None when no shape fits (a curve that turned up tells nothing of the drop)."""
    fits = []
    for i, (C, beta, gamma) in enumerate(shapes):
        flat = dataclasses.replace(base, log_alpha=(base.log_alpha[0], FLAT), anneal=(base.anneal[0], 0.0, FLAT),
                                   drops=(DropPrior(C, beta, gamma, 1.0),), window=0.0)
        fc, rms = fit_complete(run, flat)
        if fc.ok and fc.law != "overfitting":
            fits.append((rms, i, fc))
    if not fits:
        return None
    rms, best, fc = min(fits, key=lambda f: f[0])
    return best, fc


def complete_curve_fits(runs, base: ForecastPriors, shapes):
    """From whole curves: {source: [(decay fraction f, realised drop)]} and shape votes."""
    anneal = {}
    votes = [dict() for _ in shapes]
    for run in runs:
        if schedule_depth(run) < MIN_DEPTH:
            continue
        found = best_shape_fit(run, base, shapes)
        if found is None:
            continue
        best, fc = found
        anneal.setdefault(run.source, []).append((decay_fraction(run_schedule(run), run.final_step),
                                                  realised_drop(fc, run, base.anneal_nats)))
        for i in range(len(shapes)):
            votes[i].setdefault(run.source, []).append(float(i == best))
    return anneal, votes


def shape_weights(votes, shapes) -> np.ndarray:
    """A shape's prior weight: the share of decaying curves it describes best, every source
    weighing the same, plus SPREAD_VOTES spread over all shapes."""
    share = np.array([np.mean([np.mean(v) for v in votes[i].values()]) if votes[i] else 0.0
                      for i in range(len(shapes))])
    n_sources = max(len(votes[0]), 1)
    return (share * n_sources + SPREAD_VOTES / len(shapes)) / (n_sources + SPREAD_VOTES)


def typical_noise(runs, base: ForecastPriors) -> float:
    """The relative rms residual of a law fitted to a whole curve: the median of the per-source medians."""
    by_source = {}
    for run in runs:
        fc, rms = fit_complete(run, dataclasses.replace(base, window=0.0))
        if np.isfinite(rms):
            by_source.setdefault(run.source, []).append(rms)
    return float(np.median([np.median(v) for v in by_source.values()]))


def fitting_priors(runs, base: ForecastPriors = START, shapes=CANDIDATE_SHAPES) -> ForecastPriors:
    """Step 1 (module docstring) and the noise prior: `base` with the noise, drop prior and kernel shapes learnt
    from `runs`; its exponent prior and interval are still base's."""
    base = dataclasses.replace(base, noise=round(typical_noise(runs, base), NOISE_DIGITS))
    anneal, votes = complete_curve_fits(runs, base, shapes)
    weight = shape_weights(votes, shapes)
    drops = tuple(DropPrior(C, beta, gamma, round(float(w), WEIGHT_DIGITS))
                  for (C, beta, gamma), w in zip(shapes, weight))
    return dataclasses.replace(base, anneal=pooled_line(anneal) if anneal else base.anneal, drops=drops)


# ------------------------------------------------------------------------------------------
# 2. the exponent prior, tuned on the forecasts from the cutoffs

@dataclasses.dataclass(frozen=True)
class Cases:
    """Forecasts from the cutoffs of training runs, kept per grid point (rows padded to the
    longest grid) so that the exponent prior can change without refitting: it only reweights."""

    source: np.ndarray  # (n,) source of each forecast
    cutoff: np.ndarray  # (n,)
    truth: np.ndarray  # (n,) realised final loss
    log_alpha: np.ndarray  # (n, J) log exponent per grid point
    log_evidence: np.ndarray  # (n, J), −inf on padding
    mean: np.ndarray  # (n, J) per grid point, at the target
    sd: np.ndarray  # (n, J)

    def weights(self, log_alpha):
        mu, sd = log_alpha
        lp = self.log_evidence - 0.5 * ((self.log_alpha - mu) / sd) ** 2
        w = np.exp(lp - lp.max(axis=1, keepdims=True))
        return w / w.sum(axis=1, keepdims=True)


def grid_case(run, cut, steps, losses, priors: ForecastPriors):
    """One row of Cases: (source, cutoff, truth, log α, log evidence, mean, sd) of the power-law
    grid points, or None when the run's loss has turned up (the rising law has no exponent
    prior) or the grid cannot be fitted."""
    s, y, _ = clean_history(steps, losses)
    if overfitting_from(s, y, run.lr, run.final_step, []) is not None:
        return None
    post = grid_posterior(s, y, run.final_step, run.lr, priors, [])
    if isinstance(post, str):
        return None
    power = post.alpha > LOG_LINEAR  # the exponent prior is the power law's (the log-linear law has none)
    mean, sd = post.moments(np.array([run.final_step], float))
    return (run.source, cut, run.final_loss, np.log(post.alpha[power]), post.log_evidence[power],
            mean[power, 0], sd[power, 0])


def forecast_cases(runs, priors: ForecastPriors) -> Cases:
    """Every (run, cutoff) forecast of the training runs by the power/multi-power grid (a run
    whose loss has turned up is forecast by the rising law, which has no exponent prior)."""
    rows = [row for point in forecast_points(runs) if (row := grid_case(*point, priors)) is not None]
    J = max(len(r[3]) for r in rows)

    def pad(i, fill):
        return np.array([np.concatenate([r[i], np.full(J - len(r[i]), fill)]) for r in rows])

    lev = pad(4, -np.inf)
    lev[~np.isfinite(lev)] = -np.inf
    return Cases(np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                 pad(3, 0.0), lev, pad(5, 1.0), pad(6, 1.0))


def typical_error(cases: Cases, log_alpha) -> float:
    """Mean over sources of log(median |forecast/final − 1|), the forecast being the mixture's
    median under this exponent prior, as forecast() takes it: the geometric mean of the
    sources' typical errors, so that a source forecast badly (cpu_gpt at 20%) counts as much as
    one forecast well (Gemstones) for the same relative improvement."""
    err = relative_errors(cases, log_alpha)
    return float(np.mean([log_typical_error(err, cases.source, src) for src in set(cases.source)]))


def relative_errors(cases: Cases, log_alpha) -> np.ndarray:
    """forecast/final − 1 of every case, the forecast being the mixture's median under this exponent prior."""
    w = cases.weights(log_alpha)
    return mixture_quantiles(w.T, cases.mean.T, cases.sd.T, (0.5,))[0] / cases.truth - 1


def log_typical_error(err, source, src) -> float:
    """log(median |error|) of source `src`'s cases (floored at MIN_TYPICAL_ERROR)."""
    return float(np.log(max(np.median(np.abs(err[source == src])), MIN_TYPICAL_ERROR)))


def tune_exponent_prior(cases: Cases):
    """The (mean, sd) of log α on a grid under which the forecasts (mixture medians) of the
    realised final losses are most accurate (`typical_error`). The interval is calibrated
    afterwards, so the exponent prior need only place the median. (The earlier choice, the
    highest mean log predictive density, was ruled by the sources forecast worst: with cpu_gpt
    and lr_scheduling among the runs it chose a flat prior and tripled the median error at 40%
    on modded-nanogpt; docs/forecast.md.)"""
    scores = {(float(m), s): typical_error(cases, (m, s)) for m in LOG_ALPHA_MEANS for s in LOG_ALPHA_SDS}
    return min(scores, key=scores.get)


# ------------------------------------------------------------------------------------------
# 3. the interval, calibrated across sources

def source_weights(sources) -> np.ndarray:
    """1/(forecasts of the source) for each forecast: every source weighs the same."""
    counts = {src: np.sum(sources == src) for src in set(sources)}
    return np.array([1.0 / counts[src] for src in sources])


def weighted_quantile(values, weights, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    c = np.cumsum(w) - 0.5 * w
    return float(np.interp(q * w.sum(), c, v))


@dataclasses.dataclass(frozen=True)
class IntervalCases:
    """Per forecast of the development runs: the RawBand at the target (1-element arrays
    stacked), the truth, its source and cutoff."""

    raw: RawBand
    truth: np.ndarray
    source: np.ndarray
    cutoff: np.ndarray


def interval_cases(runs, priors: ForecastPriors) -> IntervalCases:
    """forecast()'s own fit (fitted_posterior) at every cutoff of every run, before calibration."""
    rows = []
    for run, cut, steps, losses in forecast_points(runs):
        s, y, _ = clean_history(steps, losses)
        post = fitted_posterior(s, y, run.final_step, run.lr, priors, [])
        if isinstance(post, tuple):
            continue
        raw = post.raw(np.array([run.final_step], float))
        rows.append((raw, run.final_loss, run.source, cut))
    fields = [f.name for f in dataclasses.fields(RawBand)]
    raw = RawBand(**{f: np.array([float(getattr(r[0], f)[0]) for r in rows]) for f in fields})
    return IntervalCases(raw, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                         np.array([r[3] for r in rows]))


def standardised_errors(cases: IntervalCases, w_own: float, w_hindcast: float, w_sensitivity: float,
                        w_ahead: float) -> np.ndarray:
    """z of every forecast (forecast.interval.standardised_error, which `calibrated` inverts)."""
    return standardised_error(cases.raw, cases.truth, interval_scale(cases.raw, w_own, w_hindcast, w_sensitivity,
                                                                      w_ahead))


def calibrate(cases: IntervalCases, *weights: float):
    """(z_lo, z_hi) for these weights: the lowest of the sources' 10% quantiles of z and the highest
    of their 90% quantiles, so that every source's forecasts fall below z_lo (above z_hi) at most
    10% of the time. Taken at the worst source, not pooled: pooled quantiles fit the typical
    source and under-cover a source unlike the others (left one source out, the pooled choice
    covered cpu_gpt and lr_scheduling less; docs/forecast.md, "The interval")."""
    return worst_source_quantiles(standardised_errors(cases, *weights), cases.source)


def calibrate_before_decay(cases: IntervalCases, *weights: float):
    """(z_lo, z_hi) for the forecasts across a decay the run had not begun (raw.before_decay):
    `calibrate` on those alone, over the sources with MIN_SOURCE_FORECASTS of them, and never
    narrower than `calibrate`'s. The drop they forecast is the prior's alone and the sources'
    drops differ (benchmarks/studies/cooldown_drop.py), so these forecasts miss on either side.
    Calibrated on their own and the rest kept on `calibrate` (a floor, not a split): split, the
    rest got narrower and lr_scheduling's forecasts after the decay began were under-covered
    (docs/forecast.md, "The interval")."""
    z = standardised_errors(cases, *weights)
    before = cases.raw.before_decay > 0
    counts = {src: int(np.sum(before & (cases.source == src))) for src in set(cases.source)}
    kept = before & np.isin(cases.source, [src for src, n in counts.items() if n >= MIN_SOURCE_FORECASTS])
    z_lo, z_hi = worst_source_quantiles(z, cases.source)
    if not np.any(kept):
        return z_lo, z_hi
    b_lo, b_hi = worst_source_quantiles(z[kept], cases.source[kept])
    return min(b_lo, z_lo), max(b_hi, z_hi)


def worst_source_quantiles(z, source):
    """(lowest of the sources' (1 − CONFIDENCE)/2 quantiles of z, highest of their upper ones), rounded to 4 digits."""
    tail = (1 - CONFIDENCE) / 2
    groups = [z[source == src] for src in sorted(set(source))]
    return (round(float(min(np.quantile(g, tail) for g in groups)), 4),
            round(float(max(np.quantile(g, 1 - tail) for g in groups)), 4))


def interval_parameters(cases: IntervalCases, priors: ForecastPriors) -> ForecastPriors:
    """The priors with the interval's weights (INTERVAL_WEIGHTS) and their quantiles (`calibrate`;
    `calibrate_before_decay` with SPLIT_BEFORE_DECAY)."""
    wo, wh, ws, wa = INTERVAL_WEIGHTS
    before = calibrate_before_decay(cases, *INTERVAL_WEIGHTS) if SPLIT_BEFORE_DECAY else None
    return dataclasses.replace(priors, interval_own=wo, interval_hindcast=wh, interval_sensitivity=ws,
                               interval_ahead=wa, interval_z=calibrate(cases, *INTERVAL_WEIGHTS),
                               interval_z_before_decay=before)


# ------------------------------------------------------------------------------------------
# all three

def start_priors(nats: bool = False, window: float = START.window) -> ForecastPriors:
    """START, or with the drop prior in nats (START_ANNEAL_NATS)."""
    start = dataclasses.replace(START, window=window)
    return dataclasses.replace(start, anneal=START_ANNEAL_NATS, anneal_nats=True) if nats else start


def learn_priors(runs, base: ForecastPriors = START, shapes=CANDIDATE_SHAPES) -> ForecastPriors:
    """Priors from the given runs: see the module docstring."""
    return learn_priors_and_cases(runs, base, shapes)[0]


def learn_priors_and_cases(runs, base: ForecastPriors = START, shapes=CANDIDATE_SHAPES):
    """(priors, the Cases they were tuned on): the forecasts of every cutoff, for callers that
    tune more on them. The cases depend on the priors' fitting
    parts only, not on the exponent prior or the interval tuned from them."""
    priors = fitting_priors(runs, base, shapes)
    cases = forecast_cases(runs, priors)
    priors = dataclasses.replace(priors, log_alpha=tune_exponent_prior(cases))
    return interval_parameters(interval_cases(runs, priors), priors), cases
