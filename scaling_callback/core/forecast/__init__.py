"""Forecast a run's validation loss at a future step from the curve so far (numpy only).

The model is the multi-power law of Luo et al. 2025 in the normalised schedule η = lr/peak:

    L(t) = E + A·(S1(t)/S1(t_c))^(−α) − B·LD(t)/B,        (Luo et al. 2025, the multi-power law)

S1 the learning-rate area (warm-up included), t_c the last observed step and LD/B the loss-drop
kernel with a fixed shape (C, β, γ). With a constant schedule LD ≡ 0 and the law is the
saturating power law in steps (Kaplan eq. 1.6 form). Its limit α → 0, the log-linear law
L = E + A·(1 − ln x) − B·LD/B (x = S1(t)/S1(t_c)), is the forecast instead when it foretold the
run's own past better (law "log-linear": small models far from saturation). Once the validation
loss has turned up (overfitting) the forecast follows the rise since its best point instead
(law "overfitting").

The package, one idea a file:
  priors.py    ForecastPriors, DropPrior, DEFAULT_PRIORS (learnt by tools/learn_priors.py)
  inputs.py    the history and the planned schedule, cleaned, pooled, thinned and normalised
  law.py       the multi-power law over its grid (its log-linear limit included) as a
               posterior: GridPosterior
  irls.py      Huber-IRLS at every grid point under the bounds E, A, B ≥ 0, with its Laplace evidence
  grid.py      the grid fit of a history: the points and columns, the drop prior, the residual
               scale, finer exponents, the cells' widths
  rising.py    a validation loss that has turned up: when it has, and the rise fitted since its
               best point (RisingPosterior)
  fit.py       the fit forecast() makes: the rising law or the grid, and the choice of law by
               the run's own past (the hindcast)
  interval.py  the calibrated interval: the fit's own spread and a misspecification term,
               calibrated apart for forecasts across a decay not yet begun
  normal.py    normal-distribution helpers
  family.py    family mode: the run's family, forecast again, shifts and calibrates the forecast
  __init__.py  forecast() and the Forecast it returns

For each exponent α on a grid the law is linear in (E, A, B), solved exactly by Huber-IRLS under
priors (log α ~ N; the drop the planned decay realises ~ N(a + b·decay fraction)); the grid
points are weighted by their Laplace evidence times the prior (Bayesian model averaging), the
forecast is the mixture's median and the interval is calibrated across development sources
(interval.calibrated, with its own quantiles where the drop ahead is the prior's alone:
interval.interval_z; docs/forecast.md).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..status import Status
from .fit import fitted_posterior
from .inputs import MAX_STEP, clean_history
from .law import MIN_RELATIVE_SD, GridPosterior
from .family import Family, FamilyAdjustment, FamilyRun
from .normal import mixture_quantiles
from .priors import DEFAULT_PRIORS, DropPrior, ForecastPriors
from .rising import RisingPosterior

__all__ = ["forecast", "Forecast", "ForecastPriors", "DropPrior", "DEFAULT_PRIORS", "Family", "FamilyRun",
           "learn_family"]

CLOCKS_PART_ABOVE = 1e-3  # a rise's two clocks (area, steps) differing by this share at the target earn a note
FAMILY_CACHE_REPLAYS = 65536  # replays kept in memory (`REPLAY_CACHE`): a forecast at every validation replays nothing twice
REPLAY_CACHE: dict = {}  # (FamilyRun.key(), repr(priors), cutoff) -> error, for forecast(..., family=[FamilyRun, ...])


@dataclass(frozen=True)
class FamilyPosterior:
    """A posterior's band with the family's shift and interval (family.FamilyAdjustment) applied."""

    base: object
    adjustment: FamilyAdjustment

    def band(self, steps, confidence):
        return self.adjustment.apply(*self.base.band(steps, confidence))


@dataclass(frozen=True)
class Forecast:
    """A forecast of the validation loss at `target_step`, or the reason there is none.

    loss, low, high: the forecast and its `confidence` interval at the target step.
    asymptote (low, high): the loss the law approaches with unlimited further training on the
        schedule's final learning rate (E − B·(1 − η_target)); E for a constant schedule. Its
        (low, high) are the posterior's own quantiles under the priors, not widened: no run
        reaches its asymptote, so unlike (low, high) they cannot be calibrated on real curves.
    law: "multi-power" (the schedule decays before the target), "power" (it does not, or no
        schedule was given), "log-linear" (the loss falls by a steady amount per doubling of
        the learning-rate area, L = E + A·(1 − ln x) − B·LD/B: the α → 0 limit, chosen when it
        foretold the run's own past better than the power law; the asymptote is NaN),
        "overfitting" (the validation loss has turned up: the forecast follows the rise since
        its best point, and the asymptote is NaN) or "none". params: the most probable law's
        parameters.
    exponent: α of that law (in learning-rate area, = steps for a constant schedule; 0 for the
        log-linear law).
    n_points: validation points used. ok/reason: reason is None exactly when ok; `status` says
        the same as a `Status` code (Status.OK exactly when ok).
    notes: assumptions made on the way (e.g. no schedule given), in words.
    family_runs: the family runs whose replays informed this forecast (0 without a family, or
        when none was replayed near this fraction of the run).
    `predict(steps)` evaluates the fitted curve and its band at any steps.
    """

    ok: bool
    reason: Optional[str]
    target_step: int
    loss: float
    low: float
    high: float
    asymptote: float
    asymptote_low: float
    asymptote_high: float
    law: str
    params: Mapping[str, float]
    exponent: float
    n_points: int
    confidence: float
    notes: Tuple[str, ...] = ()
    status: Status = Status.OK
    family_runs: int = 0
    _posterior: Optional[Union["GridPosterior", "RisingPosterior"]] = field(default=None, repr=False, compare=False)

    def predict(self, steps) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mid, low, high) of the forecast curve at `steps` (NaN everywhere when not ok)."""
        steps = np.atleast_1d(np.asarray(steps, float))
        if self._posterior is None:
            nan = np.full(steps.shape, np.nan)
            return nan, nan.copy(), nan.copy()
        return self._posterior.band(steps, self.confidence)

    def as_dict(self) -> dict:
        """The JSON-friendly fields (what the CLI prints)."""
        return {
            "ok": self.ok, "status": self.status.value, "reason": self.reason, "target_step": self.target_step,
            "loss": self.loss, "low": self.low, "high": self.high,
            "asymptote": self.asymptote, "asymptote_low": self.asymptote_low,
            "asymptote_high": self.asymptote_high, "law": self.law,
            "params": dict(self.params), "exponent": self.exponent,
            "n_points": self.n_points, "confidence": self.confidence, "notes": list(self.notes),
        }


def _failed(status: Status, reason: str, target_step: int, confidence: float, n_points: int, notes=()) -> Forecast:
    nan = float("nan")
    return Forecast(False, reason, int(target_step), nan, nan, nan, nan, nan, nan, "none", {},
                    nan, int(n_points), float(confidence), tuple(notes), status)


def forecast(
    steps: Sequence[float],
    losses: Sequence[float],
    *,
    target_step: int,
    lr=None,
    confidence: float = 0.8,
    priors: Optional[ForecastPriors] = None,
    family: Union[None, Family, Sequence[FamilyRun]] = None,
) -> Forecast:
    """Forecast the validation loss at `target_step` from (steps, losses) observed so far.

    steps, losses: the validation history (any order; NaN/inf/non-positive losses are skipped).
    target_step: the optimizer step to forecast (usually the planned end of the run).
    lr: the planned learning rate of the whole run, either an array with the rate at every step
        0..target_step (absolute or a multiplier: only its shape matters), or a tuple
        (knot_steps, knot_rates) interpolated linearly between knots and held flat beyond them.
        None means constant: the forecast is then the plain saturating power law in steps.
    confidence: probability mass of the interval (low, high), 0.8 by default.
    priors: what a partial curve cannot tell; DEFAULT_PRIORS were learnt from public curves.
    family: the run's family (earlier runs of the recipe, a sweep's finished trials, a ladder):
        a `Family` (`learn_family`, or scaling_callback.load_family) or a sequence of finished
        `FamilyRun`s (replayed once and cached in memory). Each family run was forecast again
        from fractions of its curve; their errors at the fraction of the run this forecast is
        made from shift the forecast and calibrate its interval (core/forecast/family.py). A
        Family learnt under other priors than `priors` is refused (ok=False). The caller leaves
        the run being forecast out of its own family (`Family.without(run_id)`).

    Never raises on bad data: returns a Forecast with ok=False and a reason instead. Time is
    bounded: at most MAX_POINTS points and a fixed grid (typically 10-30 ms).
    """
    if isinstance(family, Family) and priors is None:
        priors = family.priors
    priors = DEFAULT_PRIORS if priors is None else priors
    notes: list = []
    try:
        target = int(target_step)
        confidence = float(confidence)
    except (TypeError, ValueError, OverflowError):
        return _failed(Status.BAD_INPUT, f"target_step {target_step!r} / confidence {confidence!r} are not numbers", 0, 0.8, 0)
    if not 0.0 < confidence < 1.0:
        return _failed(Status.BAD_INPUT, f"confidence must be in (0, 1), got {confidence}", target, 0.8, 0)
    try:
        s, y, n_bad = clean_history(steps, losses)
    except (TypeError, ValueError) as exc:
        return _failed(Status.BAD_INPUT, f"unusable input: {exc}", target, confidence, 0)
    if n_bad:
        notes.append(f"{n_bad} non-finite or non-positive point(s) skipped")
    if len(s) < 2:
        return _failed(Status.TOO_FEW_POINTS, f"too few points: {len(s)} finite validation loss(es), need at least 2",
                       target, confidence, len(s), notes)
    if target < 1 or target > MAX_STEP:  # memory and time are bounded at any target (pooled schedule)
        return _failed(Status.BAD_INPUT, f"target_step {target} out of range (1..2^53)", target, confidence, len(s), notes)
    try:
        with np.errstate(all="ignore"):
            post = fitted_posterior(s, y, target, lr, priors, notes)
            if isinstance(post, tuple):
                return _failed(*post, target, confidence, len(s), notes)
            if isinstance(post, RisingPosterior):
                fc = _forecast_rising(post, s, y, target, confidence, notes)
            else:
                fc = _forecast(post, target, confidence, notes)
            return fc if family is None or not fc.ok else _with_family(fc, family, priors, s[-1] / target)
    except Exception as exc:  # noqa: BLE001 - a forecast must never raise into a training loop
        return _failed(Status.ERROR, f"fit failed: {type(exc).__name__}: {exc}", target, confidence, len(s), notes)


def _forecast_rising(post, s, y, target, confidence, notes) -> Forecast:
    best = int(np.searchsorted(s, post.best_step))
    mid, low, high = post.band(np.array([target], float), confidence)
    a, b, p = post.coef
    notes.append(f"overfitting: the validation loss has risen since its best {y[best]:.4g} at step {int(s[best])}; "
                 f"forecast by the rise since then (no asymptote)")
    if post.step_clock is not None:
        other = float(post.step_clock.median(np.array([target], float))[0])
        if abs(other / mid[0] - 1) > CLOCKS_PART_ABOVE:  # the two clocks part (a schedule that changes after the best point)
            notes.append(f"the rise measured in learning-rate area reaches {mid[0]:.4g} by step {target}; measured "
                         f"in steps it would reach {other:.4g}: the interval's upper end allows for it")
    nan = float("nan")
    return Forecast(
        ok=True, reason=None, target_step=target, loss=float(mid[0]), low=float(max(low[0], 0.0)),
        high=float(high[0]), asymptote=nan, asymptote_low=nan, asymptote_high=nan, law="overfitting",
        params={"best_step": float(s[best]), "best_loss": float(y[best]), "a": a, "b": b, "p": p,
                "noise": post.resid},
        exponent=float(p), n_points=post.n_points, confidence=confidence, notes=tuple(notes), _posterior=post)


def _asymptote(post: GridPosterior, confidence: float):
    """(low, mid, high) of the asymptote E − B·(1 − η_target), the posterior's own quantiles; NaN
    for the log-linear law, which falls without bound in ln x."""
    if post.log_linear:
        return float("nan"), float("nan"), float("nan")
    # the full drop of a shape with power p is B·(1 − η_T^p): η_T^p = (1 − depth)^p
    powers = np.array([shape[3] for shape in post.shapes])[post.shape_idx]
    full = 1.0 - np.maximum(1.0 - post.depth, 0.0) ** powers
    a_vec = np.stack([np.ones_like(full), np.zeros_like(full), -full], axis=1)  # (J, 3)
    a_mean = np.einsum("jk,jk->j", post.theta, a_vec)
    a_sd = np.sqrt(np.maximum(np.einsum("jk,jkl,jl->j", a_vec, post.cov, a_vec), 0.0))
    a_sd = np.maximum(a_sd, np.maximum(MIN_RELATIVE_SD * np.abs(a_mean), 1e-300))
    tail = (1.0 - confidence) / 2.0
    return mixture_quantiles(post.weight, a_mean[:, None], a_sd[:, None], (tail, 0.5, 1 - tail))[:, 0]


def _forecast(post: GridPosterior, target, confidence, notes) -> Forecast:
    mid, low, high = post.band(np.array([target], float), confidence)
    top = int(np.argmax(post.weight))
    E, A, B = post.theta[top]
    C, beta, gamma, power = post.shapes[post.shape_idx[top]]
    params = {"E": float(E), "A": float(A), "alpha": float(post.alpha[top]), "B": float(B),
              "ref_area": float(post.ref_area * post.stride)}
    if post.has_drop:
        params.update({"C": float(C), "beta": float(beta), "gamma": float(gamma), "power": float(power)})
    params["noise"] = float(post.noise)
    alo, amid, ahi = _asymptote(post, confidence)
    loss = float(mid[0])
    if not np.isfinite(loss) or loss <= 0:
        return _failed(Status.FIT_FAILED, f"the fitted law gives a non-physical loss {loss:.4g} at step {target}",
                       target, confidence, post.n_points, notes)
    if not np.all(np.isfinite([low[0], high[0]])) or not (post.log_linear or np.all(np.isfinite([alo, amid, ahi]))):
        # never a non-finite number flagged ok (the log-linear law's asymptote is NaN by definition)
        return _failed(Status.FIT_FAILED, "the interval or asymptote is not finite (losses spanning too many "
                       "decades overflow the fit)", target, confidence, post.n_points, notes)
    law = "log-linear" if post.log_linear else "multi-power" if post.has_drop else "power"
    return Forecast(
        ok=True, reason=None, target_step=target, loss=loss, low=float(max(low[0], 0.0)), high=float(high[0]),
        asymptote=float(amid), asymptote_low=float(max(alo, 0.0)) if np.isfinite(alo) else float(alo),
        asymptote_high=float(ahi), law=law,
        params=params, exponent=float(post.alpha[top]), n_points=post.n_points, confidence=confidence,
        notes=tuple(notes), _posterior=post)


def learn_family(runs: Sequence[FamilyRun], priors: Optional[ForecastPriors] = None, cache=None) -> Family:
    """The Family of finished `runs` (FamilyRun) for forecast(..., family=), under `priors`
    (DEFAULT_PRIORS): each run is forecast again from the tenth of its planned steps nearest the
    fraction a forecast is made from, when first needed (about 20 ms a run; `Family.replay_all`
    makes them all now); `cache`, a dict-like (FamilyRun.key(), repr(priors), cutoff) → error,
    keeps them (in memory by default; `scaling_callback.load_family` keeps them on disk).

        family = learn_family([FamilyRun("a", steps_a, losses_a, final_step=1000)])
        fc = forecast(steps, losses, target_step=1000, family=family)
    """
    return Family(runs, DEFAULT_PRIORS if priors is None else priors, forecast, cache)


def _with_family(fc: Forecast, family, priors, fraction: float) -> Forecast:
    """`fc` with the family's shift and interval at this fraction of the run (family.py), and a note."""
    if not isinstance(family, Family):
        if len(REPLAY_CACHE) > FAMILY_CACHE_REPLAYS:
            REPLAY_CACHE.clear()
        family = learn_family(list(family), priors, cache=REPLAY_CACHE)
    elif family.priors != priors:
        return _failed(Status.BAD_INPUT, "the family was learnt under other priors than this forecast's: learn it "
                       "again with these priors (learn_family(runs, priors))", fc.target_step, fc.confidence,
                       fc.n_points, fc.notes)
    adjustment = family.adjustment(fraction, fc.confidence)
    if adjustment is None:
        note = (f"family: none of its {family.n_runs} run(s) could be forecast again near {fraction:.0%} of its "
                f"planned steps; the forecast is the defaults'")
        return dataclasses.replace(fc, notes=fc.notes + (note,))
    post = FamilyPosterior(fc._posterior, adjustment)
    mid, low, high = (float(v) for v in adjustment.apply(fc.loss, fc.low, fc.high))
    note = (f"family: {adjustment.n_runs} family run(s) forecast again from {fraction:.0%} of their planned steps "
            f"informed this forecast (weight {adjustment.weight:.2f} against the defaults): shifted by "
            f"{mid / fc.loss - 1:+.2%}, interval {fc.low:.4g}–{fc.high:.4g} → {low:.4g}–{high:.4g}")
    return dataclasses.replace(fc, loss=mid, low=low, high=high,
                               notes=fc.notes + (note,), family_runs=adjustment.n_runs, _posterior=post)
