"""Forecast a run's validation loss at a future step from the curve so far (numpy only).

The model is the multi-power law of Luo et al. 2025 in the normalised schedule η = lr/peak:

    L(t) = E + A·(S1(t)/S1(t_c))^(−α) − B·LD(t)/B,        (Luo et al. 2025, the multi-power law)

S1 the learning-rate area (warm-up included), t_c the last observed step and LD/B the loss-drop
kernel with a fixed shape (C, β, γ). With a constant schedule LD ≡ 0 and the law is the
saturating power law in steps (Kaplan eq. 1.6 form), so that is what the forecast reduces to.

For each exponent α on a grid (and each kernel shape) the law is linear in (E, A, B): they are
solved exactly by Huber-IRLS (δ = 1e-3 on relative, ≈ log, residuals as Hoffmann/Luo) with E,
A, B ≥ 0, on the recent part of the curve (as far back as the forecast reaches ahead), under
priors learnt from real curves (`ForecastPriors`, benchmarks/learn_priors.py): log α ~ N, and
the drop the planned decay realises by the target ~ N(a + b·decay fraction). Before the
learning rate decays the data cannot tell B, so the prior carries it; once the decay is seen
the data take over. The grid points are weighted by their Laplace evidence times the prior
(Bayesian model averaging); the forecast is the median of the resulting mixture and the
interval its quantiles widened for the error of extrapolating (see docs/forecast.md).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence, Tuple

import numpy as np

from .advice import observed_overfitting
from .laws import lr_area, multi_power_drop, normalized_schedule
from .robust import huber, huber_weights
from .status import Status

HUBER_DELTA = 1e-3  # Hoffmann et al. 2022 App. D.2 and Luo et al. 2025 use Huber δ = 1e-3 on log residuals
MAX_POINTS = 400  # longer histories are averaged down to this many points (bounded time)
MAX_STEPS = 1 << 18  # longer schedules are pooled into blocks of steps (bounded time and memory)


@dataclass(frozen=True)
class DropPrior:
    """One shape of the multi-power loss-drop kernel, with its prior weight among the shapes.

    C, beta, gamma: the kernel G(x) = 1 − (C·x + 1)^(−β), x = η_k^(−γ)·S_k(t), of
        laws.multi_power_drop (C per step at the peak rate). A large β with C·β fixed makes the
        relaxation exponential in steps, as in Tissue et al.'s annealing area S2.
    weight: prior probability of this shape among the others.
    """

    C: float
    beta: float
    gamma: float
    weight: float


@dataclass(frozen=True)
class ForecastPriors:
    """What a partial curve cannot tell, learnt from complete curves (benchmarks/learn_priors.py).

    log_alpha: (mean, sd) of log α, the exponent of the power law in learning-rate area.
    anneal: (a, b, sd): the loss drop the schedule's decay realises by the target, per unit
        of decay depth (1 − η_target) and as a fraction of the loss without the decay,
        B·LD(T)/B / ((1 − η_T)·(E + A·x_T^(−α))), is ~ N(a + b·f, sd²) where f is the fraction
        of the run from the start of the decay to the target (longer decays realise more). A
        partial curve cannot tell it before the decay starts; once the decay is seen the data
        take over.
    drops: the candidate drop-kernel shapes and their prior weights.
    noise: a typical relative noise of a validation loss, the prior guess for the residual scale.
    interval_trend, interval_decay, interval_ahead: weights w_t, w_d, w_a of the three ways a
        forecast is known to go wrong beyond what its own fit knows (`misspecification`): the
        loss still falling steeply (g_t, the observed trend carried to the target), a decay of
        the learning rate not yet seen (g_d), and a large improvement still to come (g_a).
    interval_z: (z_lo, z_hi): the forecast's standardised error z = (final − m)/(m·S) on
        development runs is above z_lo and below z_hi in at least 90% of the forecasts of EVERY
        development source (a conformal calibration, taken at the worst source: `calibrated`);
        S = √(own² + D²), own the fit's own relative spread (sd) and
        D = √((w_t·g_t)² + (w_d·g_d)² + (w_a·g_a)²). Learnt by benchmarks/learn_priors.py.
    min_fraction: points earlier than this fraction of the target step are left out of the fit
        (the first few percent of a run are warm-up transients, not the power law).
    window: κ ≥ 0; points before t_c·(t_c/T)^κ are left out too (t_c the last observed step, T
        the target): to extrapolate by a factor T/t_c, fit the last factor (T/t_c)^κ of the curve
        (κ = 1: as far back as ahead, in log steps). The recent curve tells its continuation
        best: a loss curve's local exponent drifts.
    """

    log_alpha: Tuple[float, float]
    anneal: Tuple[float, float, float]
    drops: Tuple[DropPrior, ...]
    noise: float
    interval_trend: float
    interval_decay: float
    interval_ahead: float
    interval_z: Tuple[float, float]
    min_fraction: float
    window: float


# Learnt from ../shared/curves (gemstones, modded_nanogpt_track1, modded_nanogpt_track2, multipower_law; 147 runs) by `python benchmarks/learn_priors.py`.
DEFAULT_PRIORS = ForecastPriors(
    log_alpha=(-0.7000, 0.1000),
    anneal=(0.0268, 0.0410, 0.0069),
    drops=(
        DropPrior(0.11, 0.59, 0.64, 1.0000),
    ),
    noise=0.00142,
    interval_trend=0.0,
    interval_decay=0.0,
    interval_ahead=0.0,
    interval_z=(-1.2816, 1.2816),
    min_fraction=0.02,
    window=1.0,
)


@dataclass(frozen=True)
class Forecast:
    """A forecast of the validation loss at `target_step`, or the reason there is none.

    loss, low, high: the forecast and its `confidence` interval at the target step.
    asymptote (low, high): the loss the law approaches with unlimited further training on the
        schedule's final learning rate (E − B·(1 − η_target)); E for a constant schedule. Its
        (low, high) are the posterior's own quantiles under the priors, not widened: no run
        reaches its asymptote, so unlike (low, high) they cannot be calibrated on real curves.
    law: "multi-power" (the schedule decays before the target), "power" (it does not, or no
        schedule was given), "overfitting" (the validation loss has turned up: the forecast
        follows the rise since its best point, and the asymptote is NaN) or "none". params: the most probable law's parameters.
    exponent: α of that law (in learning-rate area, = steps for a constant schedule).
    n_points: validation points used. ok/reason: reason is None exactly when ok; `status` says
        the same as a `Status` code (Status.OK exactly when ok).
    notes: assumptions made on the way (e.g. no schedule given), in words.
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
    _posterior: Optional["_Posterior"] = field(default=None, repr=False, compare=False)

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


# ---------------------------------------------------------------------------------------------
# Normal distribution helpers (numpy has no erf; scipy costs 0.5 s to import).

def _erf(x):
    # Abramowitz & Stegun 7.1.26, |error| < 1.5e-7
    x = np.asarray(x, float)
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
               + 0.254829592) * t * np.exp(-a * a)
    return s * y


def _norm_cdf(z):
    return 0.5 * (1.0 + _erf(np.asarray(z, float) / math.sqrt(2.0)))


def _norm_ppf(p: float) -> float:
    """The standard normal quantile (bisection on _norm_cdf; p in (0, 1))."""
    a, b = -10.0, 10.0
    for _ in range(60):
        m = 0.5 * (a + b)
        if _norm_cdf(m) < p:
            a = m
        else:
            b = m
    return 0.5 * (a + b)


def _mixture_quantiles(weights, means, sds, probs):
    """Quantiles `probs` of Σ_j w_j N(means[j], sds[j]) at each column: (len(probs), m).

    weights: (J,) shared by every column, or (J, m) one mixture per column.
    """
    weights = weights[:, None] if np.ndim(weights) == 1 else weights
    lo = np.min(means - 8 * sds, axis=0)
    hi = np.max(means + 8 * sds, axis=0)
    out = []
    for p in probs:
        a, b = lo.copy(), hi.copy()
        for _ in range(60):
            mid = 0.5 * (a + b)
            cdf = np.sum(weights * _norm_cdf((mid[None, :] - means) / sds), axis=0)
            below = cdf < p
            a = np.where(below, mid, a)
            b = np.where(below, b, mid)
        out.append(0.5 * (a + b))
    return np.array(out)


# ---------------------------------------------------------------------------------------------
# Schedule handling


def _schedule(lr, horizon: int, stride: int, notes: list) -> Optional[np.ndarray]:
    """η at every step 0..horizon from `lr` (per-step array or (steps, values) knots), or None;
    with stride > 1 the mean of each block of `stride` steps instead."""
    if lr is None:
        notes.append("no learning-rate schedule given: assumed constant (plain power law in steps)")
        return None
    try:
        if isinstance(lr, tuple) and len(lr) == 2:
            ks, kv = (np.asarray(v, float).ravel() for v in lr)
            good = np.isfinite(ks) & np.isfinite(kv)
            ks, kv = ks[good], kv[good]
            if len(ks) == 0:
                raise ValueError("no finite (step, lr) knot")
            order = np.argsort(ks, kind="stable")
            ks, kv = ks[order], kv[order]
            if ks[-1] < horizon:
                notes.append(f"learning-rate schedule ends at step {int(ks[-1])}: held at its last value to {horizon}")
            if stride > 1:  # the mean over each block of a piecewise-linear rate, from 4 points a block
                start = np.arange(0, horizon + 1, stride, dtype=float)
                sub = start[:, None] + (np.arange(4) + 0.5)[None, :] * (stride / 4.0) - 0.5
                return normalized_schedule(np.interp(sub, ks, kv).mean(axis=1))
            per_step = np.interp(np.arange(horizon + 1, dtype=float), ks, kv)
        else:
            per_step = np.asarray(lr, float).ravel()
            if len(per_step) == 0:
                raise ValueError("empty schedule")
            if len(per_step) < horizon + 1:
                notes.append(f"learning-rate schedule has {len(per_step)} steps: held at its last value to {horizon}")
                per_step = np.concatenate([per_step, np.full(horizon + 1 - len(per_step), per_step[-1])])
            per_step = per_step[: horizon + 1]
            bad = ~np.isfinite(per_step)
            if bad.all():
                raise ValueError("no finite learning rate")
            if bad.any():
                idx = np.arange(len(per_step))
                per_step = np.interp(idx, idx[~bad], per_step[~bad])
            if stride > 1:
                pad = (-len(per_step)) % stride
                per_step = np.concatenate([per_step, np.full(pad, per_step[-1])]).reshape(-1, stride).mean(axis=1)
        return normalized_schedule(per_step)
    except (TypeError, ValueError) as exc:
        notes.append(f"learning-rate schedule unusable ({exc}): assumed constant")
        return None


def _clean(steps, losses):
    s = np.asarray(steps, float).ravel()
    y = np.asarray(losses, float).ravel()
    if len(s) != len(y):
        raise ValueError(f"steps and losses differ in length ({len(s)} vs {len(y)})")
    good = np.isfinite(s) & np.isfinite(y) & (y > 0) & (s >= 0)
    s, y = s[good], y[good]
    order = np.argsort(s, kind="stable")
    s, y = np.rint(s[order]).astype(np.int64), y[order]
    if len(s):  # one point per step: the mean of repeats
        uniq, inv = np.unique(s, return_inverse=True)
        y = np.bincount(inv, y) / np.bincount(inv)
        s = uniq
    return s, y, int(np.sum(~good))


def _thin(s, y, max_points):
    """Average consecutive points into at most max_points groups (keeps time bounded)."""
    if len(s) <= max_points:
        return s, y
    group = (np.arange(len(s)) * max_points) // len(s)
    counts = np.bincount(group)
    return (np.rint(np.bincount(group, s) / counts).astype(np.int64), np.bincount(group, y) / counts)


# ---------------------------------------------------------------------------------------------
# The interval (ForecastPriors.interval_*): one definition for forecast() and for
# benchmarks/learn_priors.py, which must learn it on exactly this computation.

Z80 = 1.2815515655446004  # the standard normal's 90% quantile: an 80% central interval is ±Z80·sd


@dataclass(frozen=True)
class RawBand:
    """What the interval is calibrated from, at each forecast step: the fit's median m, its own
    80% quantiles (lo80, hi80), and the misspecification features (`misspecification`)."""

    mid: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    trend: np.ndarray  # g_t: |d L / d ln t| / m at the last observed step, times ln(t / t_c)
    decay: np.ndarray  # g_d: η(t_c) − η(t), the fall of the learning rate not yet seen (≥ 0)
    ahead: np.ndarray  # g_a: |m(t) − m(t_c)| / m(t), the improvement still to come


def misspecification(raw: RawBand, w_trend: float, w_decay: float, w_ahead: float) -> np.ndarray:
    """D, the relative error the law itself may make: √((w_t·g_t)² + (w_d·g_d)² + (w_a·g_a)²).
    0 at observed steps; it does not shrink as the fit tightens (unlike the fit's own spread)."""
    return np.sqrt((w_trend * raw.trend) ** 2 + (w_decay * raw.decay) ** 2 + (w_ahead * raw.ahead) ** 2)


def calibrated(raw: RawBand, priors: "ForecastPriors", confidence: float):
    """(mid, low, high): the median m and m·(1 + z·S·r) for z = z_lo, z_hi, S = √(own² + D²): a
    split-conformal interval (Vovk et al. 2005, "Algorithmic learning in a random world", ch. 2)
    of the standardised error, calibrated across sources (benchmarks/learn_priors.py); r =
    Φ⁻¹(1 − tail)/Φ⁻¹(0.9) carries the 80% calibration to `confidence` as a normal's would."""
    m = raw.mid
    size = np.maximum(np.abs(m), 1e-300)
    own = (raw.hi80 - raw.lo80) / (2 * Z80) / size
    S = np.sqrt(own ** 2 + misspecification(raw, priors.interval_trend, priors.interval_decay,
                                            priors.interval_ahead) ** 2)
    z_lo, z_hi = priors.interval_z
    r = _norm_ppf(0.5 + confidence / 2) / Z80
    return m, m + size * S * z_lo * r, m + size * S * z_hi * r


# ---------------------------------------------------------------------------------------------
# The posterior over the grid


@dataclass(frozen=True)
class _Posterior:
    """The fitted law at every grid point (exponent, kernel shape) and their posterior weights."""

    eta: np.ndarray  # normalised schedule at every (pooled) step 0..horizon
    stride: int  # steps per pooled step
    S1: np.ndarray  # lr_area(eta)
    ref_area: float  # S1 at the last observed step: x = S1/ref_area
    shapes: Tuple[Tuple[float, float, float], ...]
    alpha: np.ndarray  # (J,) exponent per grid point
    shape_idx: np.ndarray  # (J,) index into shapes
    theta: np.ndarray  # (J, 3) E, A, B
    cov: np.ndarray  # (J, 3, 3) posterior covariance of theta
    log_evidence: np.ndarray  # (J,) log p(data | grid point) + log prior of its shape
    weight: np.ndarray  # (J,) posterior probability (after with_exponent_prior)
    noise: float  # relative noise of one observation
    priors: "ForecastPriors"  # for the interval's calibration
    trend: float  # |d L / d ln t| / L at the last observed step (`observed_trend`)
    last_step: int  # the last observed step
    has_drop: bool  # the schedule decays somewhere before the target
    depth: float  # 1 − η at the target
    n_points: int  # points fitted

    def with_exponent_prior(self, log_alpha, prune: float = 1e-6) -> Optional["_Posterior"]:
        """The posterior under log α ~ N(log_alpha), grid points below `prune`·max dropped."""
        mu, sd = log_alpha
        log_post = self.log_evidence - 0.5 * ((np.log(self.alpha) - mu) / sd) ** 2
        good = np.isfinite(log_post)
        if not np.any(good):
            return None
        w = np.where(good, np.exp(log_post - np.max(log_post[good])), 0.0)
        live = w >= prune * w.max()
        w = w[live] / w[live].sum()
        return _Posterior(self.eta, self.stride, self.S1, self.ref_area, self.shapes, self.alpha[live],
                          self.shape_idx[live], self.theta[live], self.cov[live], self.log_evidence[live],
                          w, self.noise, self.priors, self.trend, self.last_step,
                          self.has_drop, self.depth, self.n_points)

    def _design(self, steps):
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        x = np.maximum(self.S1[idx], 1e-12) / self.ref_area
        u = x[None, :] ** (-self.alpha[:, None])  # (J, m)
        drops = np.zeros((len(self.shapes), len(idx)))
        for i, (C, beta, gamma) in enumerate(self.shapes):
            if np.any(self.shape_idx == i):
                drops[i] = multi_power_drop(self.eta, idx, C * self.stride, beta, gamma)
        g = drops[self.shape_idx]  # (J, m)
        return np.stack([np.ones_like(u), u, -g], axis=-1)  # (J, m, 3)

    def moments(self, steps):
        """Per grid point mean and sd of the loss at `steps`: two (J, m) arrays."""
        X = self._design(steps)
        mean = np.einsum("jmk,jk->jm", X, self.theta)
        var = np.einsum("jmk,jkl,jml->jm", X, self.cov, X)
        sd = np.sqrt(np.maximum(var, 0.0) + (self.noise * np.abs(mean)) ** 2)
        return mean, np.maximum(sd, np.maximum(1e-9 * np.abs(mean), 1e-300))

    def raw(self, steps) -> RawBand:
        """The mixture's median and own 80% quantiles at `steps`, with the interval's features."""
        steps = np.asarray(steps, float)
        mean, sd = self.moments(np.concatenate([[self.last_step], steps]))
        lo, mid, hi = _mixture_quantiles(self.weight, mean, sd, (0.1, 0.5, 0.9))
        eta_at = self.eta[np.clip(np.rint(np.concatenate([[self.last_step], steps]) / self.stride).astype(np.int64),
                                  0, len(self.eta) - 1)]
        return raw_band(mid[1:], lo[1:], hi[1:], mid[0], self.trend, eta_at[0], eta_at[1:], self.last_step, steps)

    def band(self, steps, confidence):
        """(mid, low, high) at `steps`: the calibrated median and interval (`calibrated`)."""
        return calibrated(self.raw(steps), self.priors, confidence)


def raw_band(mid, lo80, hi80, mid_now, trend, eta_now, eta, last_step, steps) -> RawBand:
    """RawBand of a fit whose median at the last observed step is mid_now (see RawBand)."""
    size = np.maximum(np.abs(mid), 1e-300)
    ahead_steps = steps > last_step
    reach = np.log(np.maximum(steps, last_step) / max(last_step, 1))
    return RawBand(mid, lo80, hi80, trend * reach, np.maximum(eta_now - eta, 0.0) * ahead_steps,
                   np.abs(mid - mid_now) / size * ahead_steps)


def observed_trend(s, y) -> float:
    """|slope| of the loss against ln(step) over the points given (least squares), per unit of
    their median loss: how fast the curve was still moving when the forecast was made."""
    x = np.log(np.maximum(np.asarray(s, float), 1.0))
    if len(x) < 2 or np.ptp(x) <= 0:
        return 0.0
    xc = x - x.mean()
    slope = float(np.sum(xc * (y - y.mean())) / np.sum(xc * xc))
    return abs(slope) / max(float(np.median(np.abs(y))), 1e-300)


# ---------------------------------------------------------------------------------------------
# A validation loss that has turned up (overfitting): the forecast follows the rise.

RISE_POWERS = (0.5, 0.75, 1.0, 1.5)  # p of the rise b·u^p tried (u: learning-rate area since the best point)


def turned_up(s, y) -> Optional[int]:
    """Index of the best point when the validation loss has turned up, else None: the rule of
    advice.observed_overfitting on the validation curve alone (its running median has risen
    above its best by more than max(3σ, 1e-3)), so that the forecast and the advice agree;
    and the rise is gradual (no single step carries half of it: that is a spike or divergence)."""
    verdict = observed_overfitting(s, y)
    if not verdict.overfitting:
        return None
    best = int(np.argmin(y))
    after = y[best:]
    if len(after) < 4 or np.max(np.diff(after)) > 0.5 * (after[-1] - after[0]):
        return None
    return best


@dataclass(frozen=True)
class _RisingPosterior:
    """The loss after its best point: y = a + b·u^p, u the learning-rate area since the best
    point (1 at the last observed one); the rise goes on as fast as the training does."""

    eta: np.ndarray
    stride: int
    S1: np.ndarray
    best_step: int
    last_step: int
    coef: Tuple[float, float, float]  # a, b, p
    resid: float  # relative rms residual of the fit
    priors: "ForecastPriors"
    trend: float
    n_points: int

    def _u(self, steps):
        idx = np.clip(np.rint(np.asarray(steps, float) / self.stride).astype(np.int64), 0, len(self.eta) - 1)
        b = self.S1[min(self.best_step // self.stride, len(self.eta) - 1)]
        c = self.S1[min(self.last_step // self.stride, len(self.eta) - 1)]
        return np.maximum(self.S1[idx] - b, 0.0) / max(c - b, 1e-12), idx

    def raw(self, steps) -> RawBand:
        steps = np.asarray(steps, float)
        a, b, p = self.coef
        u, idx = self._u(steps)
        mid = a + b * u ** p
        own = self.resid * np.maximum(1.0, u)  # the fit's spread grows with how far it is carried
        half = Z80 * own * np.abs(mid)
        now = a + b
        eta_now = self.eta[min(self.last_step // self.stride, len(self.eta) - 1)]
        return raw_band(mid, mid - half, mid + half, now, self.trend, eta_now, self.eta[idx], self.last_step, steps)

    def band(self, steps, confidence):
        return calibrated(self.raw(steps), self.priors, confidence)


def _rising_posterior(s, y, best, target, lr, priors, notes):
    """Fit the rise after the best point (index `best`); a _RisingPosterior or a reason."""
    horizon = int(max(target, s[-1]))
    stride = 1 if horizon < MAX_STEPS else -(-horizon // MAX_STEPS)
    eta = _schedule(lr, horizon, stride, notes)
    if eta is None:
        eta = np.ones(-(-(horizon + 1) // stride))
    S1 = lr_area(eta)
    post = _RisingPosterior(eta, stride, S1, int(s[best]), int(s[-1]), (0.0, 0.0, 1.0), 0.0, priors, 0.0, 0)
    ss, yy = s[best:], y[best:]
    u, _ = post._u(ss)
    fits = []
    for p in RISE_POWERS:
        X = np.stack([np.ones_like(u), u ** p], axis=1)
        coef, *_ = np.linalg.lstsq(X, yy, rcond=None)
        if coef[1] <= 0:
            continue
        r = yy - X @ coef
        fits.append((float(np.sum(r * r)), (float(coef[0]), float(coef[1]), p), r))
    if not fits:
        return "the validation loss turned up, but no rising law fits the points since its best"
    _, coef, r = min(fits, key=lambda f: f[0])
    resid = max(float(np.sqrt(np.mean(r * r) * len(r) / max(len(r) - 2, 1))) / float(np.median(yy)), priors.noise)
    return dataclasses.replace(post, coef=coef, resid=resid, trend=observed_trend(ss, yy), n_points=len(ss))


def decay_fraction(eta, target: int) -> float:
    """The fraction of 0..target after the schedule first falls 2% below its peak (0 if never)."""
    eta = np.asarray(eta, float)[: target + 1]
    peak = int(np.argmax(eta))
    below = np.nonzero(eta[peak:] < 0.98 * eta[peak])[0]
    if len(below) == 0 or target <= 0:
        return 0.0
    return float((target - (peak + below[0])) / target)


def _alpha_grid():
    return np.exp(np.linspace(math.log(0.04), math.log(3.0), 48))


def _fit_grid(u, g, y, uT, gT, depth, drop_prior, sigma, Lc, has_drop, iters=8):
    """Huber-IRLS MAP of (E, A, B) ≥ 0 at every grid point, with its Laplace evidence.

    u: (J, n) power-law column, g: (J, n) drop column, uT, gT: (J,) both at the target; depth:
    1 − η at the target; drop_prior: (mean, sd) of the realised drop; sigma: the residual scale.
    Returns theta (J, 3), cov (J, 3, 3), log evidence (J,) and relative residuals (J, n).
    """
    J, n = u.shape
    Z = np.stack([np.ones_like(u), u, -g], axis=-1) / y[None, :, None]  # (J, n, 3): r = Zθ − 1
    # priors on θ: weak E ~ N(Lc, Lc²), A ~ N(0, Lc²); the drop realised at the target as the
    # linear row (B·gT − μ·d·(E + A·uT))/(σ·d·Lc) ~ N(0, 1), d the decay depth; B = 0 without a drop.
    mu, sd = drop_prior
    P = np.zeros((J, 3, 3))
    P[:, 0, 0] += 1.0 / Lc ** 2
    P[:, 1, 1] += 1.0 / Lc ** 2
    pm = np.zeros((J, 3))
    pm[:, 0] = Lc / Lc ** 2  # P·μ0 for the E prior
    if has_drop:
        d = max(depth, 1e-3)
        a = np.stack([-mu * d * np.ones(J), -mu * d * uT, gT], axis=-1) / (sd * d * Lc)
        P += a[:, :, None] * a[:, None, :]
    else:
        P[:, 2, 2] += 1e12 / Lc ** 2
    w = np.ones((J, n))
    subsets = [np.array(sub) for sub in ([0, 1, 2], [0, 1], [0, 2], [1, 2], [0], [1], [2])]
    theta = np.zeros((J, 3))
    for _ in range(iters):
        Wz = Z * (w / sigma ** 2)[:, :, None]
        M = np.einsum("jnk,jnl->jkl", Wz, Z) + P
        rhs = Wz.sum(axis=1) + pm
        best_q = np.full(J, np.inf)
        for sub in subsets:
            Ms = M[:, sub][:, :, sub]
            try:
                ts = np.linalg.solve(Ms, rhs[:, sub][:, :, None])[:, :, 0]
            except np.linalg.LinAlgError:
                continue
            full = np.zeros((J, 3))
            full[:, sub] = ts
            feasible = np.all(ts >= 0, axis=1) & np.all(np.isfinite(ts), axis=1)
            q = 0.5 * np.einsum("jk,jkl,jl->j", full, M, full) - np.einsum("jk,jk->j", full, rhs)
            take = feasible & (q < best_q)
            theta[take] = full[take]
            best_q[take] = q[take]
        r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
        w = huber_weights(r, HUBER_DELTA)
    r = np.einsum("jnk,jk->jn", Z, theta) - 1.0
    dev = theta.copy()
    dev[:, 0] -= Lc
    cost = huber(r, HUBER_DELTA).sum(axis=1) / sigma ** 2 + 0.5 * np.einsum("jk,jkl,jl->j", dev, P, dev)
    Wz = Z * (w / sigma ** 2)[:, :, None]
    M = np.einsum("jnk,jnl->jkl", Wz, Z) + P
    sign, logdet = np.linalg.slogdet(M)
    _, logdet_p = np.linalg.slogdet(P)
    cov = np.linalg.inv(M)
    log_evidence = -cost - 0.5 * logdet + 0.5 * logdet_p
    log_evidence[~(sign > 0) | ~np.isfinite(log_evidence)] = -np.inf
    return theta, cov, log_evidence, r


def forecast(
    steps: Sequence[float],
    losses: Sequence[float],
    *,
    target_step: int,
    lr=None,
    confidence: float = 0.8,
    priors: Optional[ForecastPriors] = None,
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

    Never raises on bad data: returns a Forecast with ok=False and a reason instead. Time is
    bounded: at most MAX_POINTS points and a fixed grid (typically 10-30 ms).
    """
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
        s, y, n_bad = _clean(steps, losses)
    except (TypeError, ValueError) as exc:
        return _failed(Status.BAD_INPUT, f"unusable input: {exc}", target, confidence, 0)
    if n_bad:
        notes.append(f"{n_bad} non-finite or non-positive point(s) skipped")
    if len(s) < 2:
        return _failed(Status.TOO_FEW_POINTS, f"too few points: {len(s)} finite validation loss(es), need at least 2",
                       target, confidence, len(s), notes)
    if target < 1 or target > 10 ** 9:
        return _failed(Status.BAD_INPUT, f"target_step {target} out of range (1..1e9)", target, confidence, len(s), notes)
    try:
        with np.errstate(all="ignore"):
            post = fitted_posterior(s, y, target, lr, priors, notes)
            if isinstance(post, tuple):
                return _failed(*post, target, confidence, len(s), notes)
            if isinstance(post, _RisingPosterior):
                return _forecast_rising(post, s, y, target, confidence, notes)
            return _forecast(post, target, confidence, notes)
    except Exception as exc:  # noqa: BLE001 - a forecast must never raise into a training loop
        return _failed(Status.FIT_FAILED, f"fit failed: {type(exc).__name__}: {exc}", target, confidence, len(s), notes)


def fitted_posterior(s, y, target, lr, priors: "ForecastPriors", notes: list):
    """The fit forecast() makes of a clean history (s, y): a _RisingPosterior when the loss has
    turned up, else the grid posterior under the exponent prior; or (Status, reason) when there
    is none. benchmarks/learn_priors.py calibrates the interval on exactly these fits."""
    best = turned_up(s, y)
    if best is not None:
        post = _rising_posterior(s, y, best, target, lr, priors, notes)
        return (Status.FIT_FAILED, post) if isinstance(post, str) else post
    diverging = _diverging(y)
    if diverging:
        return Status.DIVERGING, diverging
    post = _grid_posterior(s, y, target, lr, priors, notes)
    if isinstance(post, str):
        return Status.FIT_FAILED, post
    post = post.with_exponent_prior(priors.log_alpha)
    return (Status.FIT_FAILED, "no exponent on the grid gives a finite fit") if post is None else post


def _diverging(y) -> Optional[str]:
    """A reason when the latest losses sit far above the best so far (a diverging run)."""
    best = np.min(y)
    recent = y[-2:] if len(y) >= 3 else y[-1:]
    if np.all(recent > 1.25 * best) and np.argmin(y) < len(y) - len(recent):
        return (f"diverging run: latest loss {y[-1]:.4g} is {y[-1] / best - 1:.0%} above the best "
                f"{best:.4g}; a power law cannot describe it")
    return None


def _grid_posterior(s, y, target, lr, priors: ForecastPriors, notes: list):
    """Fit the law at every grid point; a _Posterior (without the exponent prior) or a reason."""
    horizon = int(max(target, s[-1]))
    stride = 1 if horizon < MAX_STEPS else -(-horizon // MAX_STEPS)
    eta = _schedule(lr, horizon, stride, notes)
    if eta is None:
        eta = np.ones(-(-(horizon + 1) // stride))
    if stride > 1:
        notes.append(f"schedule pooled in blocks of {stride} steps")
    S1 = lr_area(eta)
    idx = np.clip(s // stride, 0, len(eta) - 1)
    keep = S1[idx] > 0
    early = (s < priors.min_fraction * target) | (s < s[-1] * min(1.0, s[-1] / target) ** priors.window)
    if np.sum(keep & ~early) >= 2:
        keep &= ~early
    s, y = s[keep], y[keep]
    if len(s) < 2:
        return "too few points after the first step (need 2 with a positive learning-rate area)"
    s, y = _thin(s, y, MAX_POINTS)
    trend = observed_trend(s, y)
    scale = float(np.median(y))  # fit in units of the typical loss: any scale of input works
    y = y / scale
    idx = np.clip(s // stride, 0, len(eta) - 1)
    tidx = min(target // stride, len(eta) - 1)
    ref_area = S1[idx[-1]]
    x = S1[idx] / ref_area
    xT = max(S1[tidx], 1e-12) / ref_area
    Lc = float(np.median(y[-3:]))

    has_drop = bool(np.any(np.diff(eta[int(np.argmax(eta)):]) < 0))
    drops_prior = priors.drops if has_drop else priors.drops[:1]
    shapes = tuple((d.C, d.beta, d.gamma) for d in drops_prior)
    log_shape_w = np.log(np.array([d.weight for d in drops_prior], float) / sum(d.weight for d in drops_prior))
    both = np.concatenate([idx, [tidx]])
    if has_drop:
        drops = np.array([multi_power_drop(eta, both, C * stride, beta, gamma) for C, beta, gamma in shapes])
    else:
        drops = np.zeros((1, len(both)))
    depth = float(1.0 - eta[tidx])
    drop_prior = (priors.anneal[0] + priors.anneal[1] * decay_fraction(eta, tidx), priors.anneal[2])

    def fit_points(alpha, shape_idx, sigma):
        u = x[None, :] ** (-alpha[:, None])
        theta, cov, log_ev, resid = _fit_grid(u, drops[shape_idx, :-1], y, xT ** (-alpha), drops[shape_idx, -1],
                                              depth, drop_prior, sigma, Lc, has_drop)
        return theta, cov, log_ev + log_shape_w[shape_idx], resid

    alphas = _alpha_grid()
    alpha = np.tile(alphas, len(shapes))
    shape_idx = np.repeat(np.arange(len(shapes)), len(alphas))
    # two passes: the first (σ = the prior noise) finds the residual scale, the second uses it
    theta, cov, log_ev, resid = fit_points(alpha, shape_idx, priors.noise)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    r = resid[int(np.argmax(np.where(np.isfinite(log_ev), log_ev, -np.inf)))]
    n = len(r)
    mad = 1.4826 * np.median(np.abs(r - np.median(r))) if n >= 3 else 0.0
    nu = 2.0  # pseudo-points of the prior noise: a few points cannot claim zero noise
    noise = math.sqrt((n * mad ** 2 + nu * priors.noise ** 2) / (max(n - 3, 0) + nu))
    # residuals of a smooth law on a real curve are correlated: n points carry about
    # n·(1−ρ)/(1+ρ) independent ones (ρ the lag-1 autocorrelation), so the fit's σ is widened
    sigma = noise
    if n >= 4:
        rc = r - np.mean(r)
        rho = min(max(float(np.sum(rc[1:] * rc[:-1]) / max(np.sum(rc * rc), 1e-300)), 0.0), 0.98)
        sigma *= math.sqrt((1 + rho) / (1 - rho))
    theta, cov, log_ev, resid = fit_points(alpha, shape_idx, sigma)
    if not np.any(np.isfinite(log_ev)):
        return "no exponent on the grid gives a finite fit"
    # where the likelihood peaks more sharply than the grid resolves, add finer exponents
    fine_alpha, fine_shape = [], []
    for i in range(len(shapes)):
        lev = log_ev[shape_idx == i]
        j = int(np.argmax(np.where(np.isfinite(lev), lev, -np.inf)))
        if 0 < j < len(alphas) - 1 and lev[j] - max(lev[j - 1], lev[j + 1]) > 0.5:
            fine = np.exp(np.linspace(np.log(alphas[j - 1]), np.log(alphas[j + 1]), 17)[1:-1])
            fine = fine[np.abs(np.log(fine / alphas[j])) > 1e-9]
            fine_alpha.append(fine)
            fine_shape.append(np.full(len(fine), i))
    if fine_alpha:
        fa, fs = np.concatenate(fine_alpha), np.concatenate(fine_shape)
        t2, c2, l2, _ = fit_points(fa, fs, sigma)
        alpha, shape_idx = np.concatenate([alpha, fa]), np.concatenate([shape_idx, fs])
        theta, cov, log_ev = np.concatenate([theta, t2]), np.concatenate([cov, c2]), np.concatenate([log_ev, l2])
    # the grid is a quadrature in log α: weigh each point by the width of its cell
    order = np.lexsort((alpha, shape_idx))
    alpha, shape_idx, theta, cov, log_ev = alpha[order], shape_idx[order], theta[order], cov[order], log_ev[order]
    la = np.log(alpha)
    width = np.empty_like(la)
    for i in range(len(shapes)):
        m = np.nonzero(shape_idx == i)[0]
        edges = np.concatenate([[la[m[0]]], 0.5 * (la[m[1:]] + la[m[:-1]]), [la[m[-1]]]])
        width[m] = np.maximum(np.diff(edges), 1e-12)
    log_ev = log_ev + np.log(width / np.max(width))
    return _Posterior(eta, stride, S1, ref_area, shapes, alpha, shape_idx, theta * scale, cov * scale ** 2, log_ev,
                      np.full(len(alpha), 1.0 / len(alpha)), noise, priors, trend,
                      int(s[-1]), has_drop, depth, len(s))


def _forecast_rising(post, s, y, target, confidence, notes) -> Forecast:
    best = int(np.searchsorted(s, post.best_step))
    mid, low, high = post.band(np.array([target], float), confidence)
    a, b, p = post.coef
    notes.append(f"overfitting: the validation loss has risen since its best {y[best]:.4g} at step {int(s[best])}; "
                 f"forecast by the rise since then (no asymptote)")
    nan = float("nan")
    return Forecast(
        ok=True, reason=None, target_step=target, loss=float(mid[0]), low=float(max(low[0], 0.0)),
        high=float(high[0]), asymptote=nan, asymptote_low=nan, asymptote_high=nan, law="overfitting",
        params={"best_step": float(s[best]), "best_loss": float(y[best]), "a": a, "b": b, "p": p,
                "noise": post.resid},
        exponent=float(p), n_points=post.n_points, confidence=confidence, notes=tuple(notes), _posterior=post)


def _forecast(post, target, confidence, notes) -> Forecast:
    mid, low, high = post.band(np.array([target], float), confidence)
    # asymptote: E − B·(1 − η_target)
    a_vec = np.array([1.0, 0.0, -post.depth])
    a_mean = post.theta @ a_vec
    a_sd = np.sqrt(np.maximum(np.einsum("k,jkl,l->j", a_vec, post.cov, a_vec), 0.0))
    a_sd = np.maximum(a_sd, np.maximum(1e-9 * np.abs(a_mean), 1e-300))
    tail = (1.0 - confidence) / 2.0
    alo, amid, ahi = _mixture_quantiles(post.weight, a_mean[:, None], a_sd[:, None], (tail, 0.5, 1 - tail))[:, 0]
    top = int(np.argmax(post.weight))
    E, A, B = post.theta[top]
    C, beta, gamma = post.shapes[post.shape_idx[top]]
    params = {"E": float(E), "A": float(A), "alpha": float(post.alpha[top]), "B": float(B),
              "ref_area": float(post.ref_area * post.stride)}
    if post.has_drop:
        params.update({"C": float(C), "beta": float(beta), "gamma": float(gamma)})
    params["noise"] = float(post.noise)
    loss = float(mid[0])
    if not np.isfinite(loss) or loss <= 0:
        return _failed(Status.FIT_FAILED, f"the fitted law gives a non-physical loss {loss:.4g} at step {target}",
                       target, confidence, post.n_points, notes)
    return Forecast(
        ok=True, reason=None, target_step=target, loss=loss, low=float(max(low[0], 0.0)), high=float(high[0]),
        asymptote=float(amid), asymptote_low=float(max(alo, 0.0)), asymptote_high=float(ahi),
        law="multi-power" if post.has_drop else "power",
        params=params, exponent=float(post.alpha[top]), n_points=post.n_points, confidence=confidence,
        notes=tuple(notes), _posterior=post)
