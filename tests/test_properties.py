"""Property-based guard (hypothesis): any input gives a result with a reason or one documented
exception type with a message; never a traceback of another type, never a non-finite value
flagged ok.

- forecast(): never raises; ok ⇒ finite loss/low/high/asymptote with low ≤ loss ≤ high; not ok
  ⇒ a reason, and not the catch-all "fit failed: <exception>" (an internal error hidden as one).
- fit_scaling_law() / ScalingLawFit: ScalingLawError or a fit whose law is finite.
- a checkpoint state (`ScalingTracker.load_state_dict`): loads, or one ValueError naming the key.
- the CLI readers (curve CSV, (N, D, loss) CSV, saved fit JSON) and the CLI itself on arbitrary
  bytes: ValueError (ScalingLawError for the fit's readers) or a result; the CLI exits 0/1/2.
Each test's max_examples keeps the module to a few seconds per test on a shared 2-core machine.
"""
import json
import math
import os
import string
import tempfile

import numpy as np
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from scaling_callback.cli import main
from scaling_callback.core.crossrun import ScalingLawError, ScalingLawFit, fit_scaling_law
from scaling_callback.core.forecast import Forecast, forecast
from scaling_callback.core.status import Status
from scaling_callback.io import read_curves_csv, read_run_points

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

any_float = st.floats(allow_nan=True, allow_infinity=True)
wide_float = st.one_of(any_float, st.floats(-1e20, 1e20), st.floats(1e-300, 1e300))
junk = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.complex_numbers(max_magnitude=10),
                 st.lists(st.integers(0, 3), max_size=3))
number_or_junk = st.one_of(wide_float, st.integers(-2 ** 70, 2 ** 70), junk)


# ------------------------------------------------------------------------------ forecast


@settings(max_examples=120, **SETTINGS)
@given(
    steps=st.one_of(st.lists(st.one_of(st.integers(-10, 10 ** 7), wide_float), max_size=30),
                    st.lists(st.integers(0, 10 ** 6), min_size=2, max_size=30)),
    losses=st.one_of(st.lists(wide_float, max_size=30),
                     st.lists(st.floats(1e-3, 1e3), min_size=2, max_size=30)),
    target=st.integers(1, 10 ** 7),
    lr=st.one_of(st.none(), st.lists(wide_float, max_size=40),
                 st.tuples(st.lists(wide_float, min_size=1, max_size=5), st.lists(wide_float, min_size=1, max_size=5))),
    bad=st.sampled_from([None, None, None, "target_step", "confidence", "lr"]),
    bad_value=number_or_junk,
)
def test_forecast_answers_with_finite_numbers_or_a_reason(steps, losses, target, lr, bad, bad_value):
    n = min(len(steps), len(losses))
    options = dict(target_step=target, lr=lr, confidence=0.8)
    if bad is not None:  # one argument of any type or value
        options[bad] = bad_value
    fc = forecast(steps[:n], losses[:n], **options)
    assert isinstance(fc, Forecast)
    event(fc.status.value)
    assert fc.status is not Status.ERROR, fc.reason  # an internal error caught, not a reason
    if fc.ok:
        assert fc.status is Status.OK and fc.reason is None
        values = (fc.loss, fc.low, fc.high, fc.asymptote, fc.asymptote_low, fc.asymptote_high)
        assert all(math.isfinite(v) for v in values), values
        assert fc.low <= fc.loss <= fc.high
    else:
        assert isinstance(fc.reason, str) and fc.reason


@settings(max_examples=40, **SETTINGS)
@given(
    n=st.integers(2, 30),
    first=st.floats(0, 1e12),
    span=st.floats(1.0, 1e6),
    target_factor=st.floats(0.5, 1e4),
    base=st.floats(1e-6, 1e6),
    per_step=st.integers(1, 3000),
)
def test_forecast_of_a_clean_curve_at_any_scale_is_finite_or_says_why(n, first, span, target_factor, base, per_step):
    steps = first + span * np.arange(1, n + 1)
    losses = base * (1 + 3 * (steps / steps[-1]) ** -0.3)
    lr = np.linspace(1.0, 0.1, per_step)
    fc = forecast(steps, losses, target_step=int(steps[-1] * target_factor) + 1, lr=lr)
    if fc.ok:
        assert all(math.isfinite(v) for v in (fc.loss, fc.low, fc.high)) and fc.low <= fc.loss <= fc.high
    else:
        assert fc.reason and fc.status not in (Status.OK, Status.ERROR), fc.reason


# ------------------------------------------------------------------------ fit_scaling_law


positive = st.floats(1e-30, 1e30)
point_value = st.one_of(positive, st.floats(1e2, 1e12), any_float, st.just(0.0), st.just(-1.0))


# derandomized: one generated input (not found again in 300 more) kept scipy's least_squares
# busy for over 10 minutes; a fixed seed keeps this suite's time known
@settings(max_examples=25, derandomize=True, **SETTINGS)
@given(
    points=st.one_of(
        st.lists(st.tuples(point_value, point_value, point_value), max_size=9),
        st.lists(st.tuples(st.floats(1e3, 1e12), st.floats(1e6, 1e14), st.floats(1e-3, 1e3)), min_size=4, max_size=9),
        st.lists(st.tuples(st.sampled_from([1e6, 1e8]), st.sampled_from([1e9, 1e11]), st.sampled_from([2.0, 3.0])),
                 min_size=5, max_size=8)),
    form=st.sampled_from(["chinchilla", "kaplan"]),
    bad=st.sampled_from([None, None, "form", "n_bootstrap", "confidence", "seed", "delta"]),
    bad_value=number_or_junk,
    n_bootstrap=st.integers(0, 2),
)
@example(points=[(n, d, 1.7 + 406 / n ** 0.34 + 411 / d ** 0.28) for n in (1e6, 1e7, 1e8) for d in (1e9, 1e10)],
         form="chinchilla", bad=None, bad_value=None, n_bootstrap=2)  # one that fits, whatever is drawn
@example(points=[(n, d, 3.0) for n in (1e6, 1e7, 1e8) for d in (1e9, 1e10)], form="kaplan", bad=None,
         bad_value=None, n_bootstrap=2)  # every loss equal (was OverflowError)
def test_fit_scaling_law_raises_only_scaling_law_error(points, form, bad, bad_value, n_bootstrap):
    N, D, L = (list(col) for col in zip(*points)) if points else ([], [], [])
    options = dict(form=form, n_bootstrap=n_bootstrap, confidence=0.9, seed=0, delta=1e-3)
    if bad is not None:  # one option of any type or value (a valid but huge n_bootstrap would only take long)
        huge = bad == "n_bootstrap" and type(bad_value) is int
        options[bad] = bad_value % 3 if huge else bad_value
    try:
        fit = fit_scaling_law(N, D, L, n_starts=2, **options)
    except ScalingLawError as exc:
        assert type(exc) is ScalingLawError and str(exc)
        return
    assert all(math.isfinite(getattr(fit.law, name)) for name in fit.law.names)
    for compute in (1e10, 1e20, 1e30):
        try:
            plan = fit.compute_optimal(compute)
        except ScalingLawError:
            continue
        assert plan.N.value > 0 and plan.D.value > 0 and math.isfinite(plan.loss.value)


SAVED = {
    "chinchilla": {"format": "scaling-callback/scaling-law-fit", "version": 1, "form": "chinchilla",
                   "parameters": {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28},
                   "confidence": 0.95, "n_points": 9, "cost": 1e-4, "delta": 1e-3,
                   "compute_range": [1e17, 1e21], "n_bootstrap": 1,
                   "bootstrap": [[1.7, 400.0, 400.0, 0.33, 0.29]]},
    "kaplan": {"format": "scaling-callback/scaling-law-fit", "version": 1, "form": "kaplan",
               "parameters": {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095},
               "confidence": 0.95, "n_points": 9, "cost": 1e-4, "delta": 1e-3,
               "compute_range": [1e17, 1e21], "n_bootstrap": 0, "bootstrap": []},
}
any_value = st.one_of(number_or_junk, st.dictionaries(st.text(max_size=6), number_or_junk, max_size=5),
                      st.lists(st.one_of(number_or_junk, st.lists(number_or_junk, max_size=6)), max_size=4))


@settings(max_examples=100, **SETTINGS)
@given(form=st.sampled_from(sorted(SAVED)), changes=st.data(), compute=st.one_of(st.floats(1e10, 1e30), number_or_junk))
def test_a_saved_fit_of_any_content_loads_or_says_why(form, changes, compute):
    obj = json.loads(json.dumps(SAVED[form]))  # a valid saved fit, then one to three fields changed
    for _ in range(changes.draw(st.integers(1, 3))):
        key = changes.draw(st.sampled_from(sorted(obj)))
        if key == "parameters" and isinstance(obj[key], dict) and obj[key] and changes.draw(st.booleans()):
            obj[key][changes.draw(st.sampled_from(sorted(obj[key])))] = changes.draw(number_or_junk)
        else:
            obj[key] = changes.draw(any_value)
    try:
        fit = ScalingLawFit.from_dict(obj)
    except ScalingLawError as exc:
        assert type(exc) is ScalingLawError and str(exc)
        return
    assert all(math.isfinite(est.value) for est in fit.parameters.values())
    try:
        plan = fit.compute_optimal(compute)
    except ScalingLawError as exc:
        assert type(exc) is ScalingLawError
        return
    assert plan.N.value > 0 and plan.D.value > 0


# ------------------------------------------------------------------- checkpoint state loading


def _saved_tracker_state():
    """A real tracker state: 8 observations with forecasts, a schedule and advice."""
    import torch

    from scaling_callback import ScalingTracker

    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=200,
                             lr_schedule=lambda step: 1.0 - step / 250)
    for step in range(20, 161, 20):
        tracker.count(torch.zeros(2, 8, dtype=torch.long))
        tracker.observe(step, 2.0 + 5.0 * step ** -0.3)
    return tracker.state_dict()


STATE = _saved_tracker_state()
state_junk = st.one_of(number_or_junk, st.dictionaries(st.text(max_size=6), number_or_junk, max_size=3),
                       st.lists(number_or_junk, max_size=3))


@settings(max_examples=100, **SETTINGS)
@given(changes=st.data())
def test_a_checkpoint_state_of_any_content_loads_or_names_the_key(changes):
    from scaling_callback import ScalingTracker

    state = json.loads(json.dumps(STATE))  # the saved state, then one to three values changed anywhere
    for _ in range(changes.draw(st.integers(1, 3))):
        node, key = state, changes.draw(st.sampled_from(sorted(state)))
        while isinstance(node[key], (dict, list)) and node[key] and changes.draw(st.booleans()):
            node = node[key]
            key = changes.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if changes.draw(st.booleans()) and isinstance(node, dict):
            del node[key]
        else:
            node[key] = changes.draw(state_junk)
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=200)
    try:
        tracker.load_state_dict(state)
    except ValueError as exc:
        event("refused")
        assert type(exc) is ValueError and "key " in str(exc)
        assert len(tracker.history) == 0  # nothing was loaded
        return
    event("loaded")
    tokens = tracker.tokens()
    assert isinstance(tokens, int) and tokens >= 0 and tracker.train_batches >= 0
    assert all(isinstance(o.step, int) and o.step >= 0 and o.tokens >= 0 for o in tracker.history)
    assert all(isinstance(r.ok, bool) for r in tracker.forecasts)
    tracker.observe(180, 2.5)  # and it goes on


# ------------------------------------------------------------------------------ CLI readers


csv_text = st.lists(
    st.lists(st.one_of(st.sampled_from(["step", "val_loss", "run_id", "lr", "tokens", "N", "D", "C", "loss", "",
                                        "nan", "inf", "-1", "0", "1e400", "a"]),
                       st.floats(allow_nan=True).map(repr), st.integers(-5, 10 ** 6).map(str),
                       st.text(string.printable, max_size=4)),
             max_size=6).map(",".join),
    max_size=8).map("\n".join)
file_bytes = st.one_of(csv_text.map(str.encode), st.binary(max_size=200))


def _write(data: bytes) -> str:
    fd, path = tempfile.mkstemp(suffix=".csv")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


@settings(max_examples=150, **SETTINGS)
@given(data=file_bytes)
def test_curve_and_point_readers_give_a_value_error_or_data(data):
    path = _write(data)
    try:
        try:
            curves = read_curves_csv(path)
            assert all(np.all(np.isfinite(c.step)) for c in curves.values())
        except ValueError as exc:
            assert str(exc)
        try:
            points = read_run_points([path])
            assert np.all(points.N > 0) and np.all(points.D > 0) and np.all(points.loss > 0)
        except ScalingLawError as exc:
            assert type(exc) is ScalingLawError and str(exc)
    finally:
        os.unlink(path)


@settings(max_examples=40, **SETTINGS)
@given(data=file_bytes, upto=st.sampled_from(["0", "10", "1e9", "nan", "-5"]), json_out=st.booleans())
def test_the_cli_on_any_file_exits_with_a_status_never_a_traceback(data, upto, json_out, capsys):
    path = _write(data)
    try:
        assert main(["forecast", path, "--upto", upto] + (["--json"] if json_out else [])) in (0, 1, 2)
        out = capsys.readouterr().out
        if json_out and out.strip():
            json.loads(out)  # --json prints one JSON object (NaN written as null)
        assert main(["fit", path, "--bootstrap", "0"]) in (0, 2)
        assert main(["plan", "--compute", "1e21", "--fit", path]) in (0, 2)
    finally:
        os.unlink(path)
