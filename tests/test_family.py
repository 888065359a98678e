"""Family mode in the engine, the loader and the command line: the family's replayed errors shift
the forecast and set its interval; the run itself is never its own family."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scaling_callback import Family, FamilyRun, forecast, learn_family, load_family
from scaling_callback.core.forecast import DEFAULT_PRIORS
from scaling_callback.core.forecast.family import FAMILY_CUTOFFS
from scaling_callback.family import family_of

T = 4000


def curve(seed, E=2.0, T=T):
    """A run whose loss falls faster late (−0.08·(t/T)²) than any saturating law fitted early says:
    every run of the family is forecast too high in the same way."""
    rng = np.random.default_rng(seed)
    s = np.arange(100, T + 1, 100.0)
    y = (E + 3.0 * s ** -0.3 - 0.08 * (s / T) ** 2) * (1 + 0.002 * rng.standard_normal(len(s)))
    return s, y


def family_run(i, E=None):
    s, y = curve(i, 2.0 + 0.02 * i if E is None else E)
    return FamilyRun(f"r{i}", tuple(s), tuple(y), final_step=T)


@pytest.fixture(scope="module")
def family():
    return learn_family([family_run(i) for i in range(4)])


def test_the_family_corrects_the_bias_it_shares_and_says_so(family):
    s, y = curve(99, E=2.05)
    seen = s <= 0.4 * T
    alone = forecast(s[seen], y[seen], target_step=T)
    with_family = forecast(s[seen], y[seen], target_step=T, family=family)
    assert alone.ok and with_family.ok
    assert abs(with_family.loss / y[-1] - 1) < 0.5 * abs(alone.loss / y[-1] - 1)
    assert with_family.low <= y[-1] <= with_family.high
    assert any(n.startswith("family: 4 family run(s)") for n in with_family.notes)
    mid, low, high = with_family.predict([T])  # the curve's band ends where the forecast does
    assert mid[0] == pytest.approx(with_family.loss) and low[0] == pytest.approx(with_family.low)


def test_a_run_is_left_out_of_its_own_family(family):
    assert family.n_runs == 4 and family.without("r2").n_runs == 3 and family.without("nope").n_runs == 4
    assert family.without(None) is family


def test_small_families_lean_on_the_defaults():
    s, y = curve(99, E=2.05)
    seen = s <= 0.4 * T
    one = learn_family([family_run(0)])
    alone = forecast(s[seen], y[seen], target_step=T)
    with_one = forecast(s[seen], y[seen], target_step=T, family=one)
    # one run shifts the forecast by a fifth of what it says (λ = 1/(1 + 4)) and keeps the defaults' width
    assert alone.loss > with_one.loss > alone.loss * (1 - 0.05)
    assert (with_one.high / with_one.low) == pytest.approx(alone.high / alone.low, rel=1e-9)


def test_no_replays_near_the_start_of_a_run(family):
    s = np.array([40.0, 80.0, 120.0])  # 3% of the run: no replay that early
    fc = forecast(s, 2.0 + 3.0 * s ** -0.3, target_step=T, family=family)
    assert fc.ok and any("none of its 4 run(s)" in n for n in fc.notes)


def test_a_family_of_other_priors_is_refused(family):
    import dataclasses
    other = dataclasses.replace(DEFAULT_PRIORS, noise=0.01)
    s, y = curve(99)
    fc = forecast(s[:20], y[:20], target_step=T, family=family, priors=other)
    assert not fc.ok and "other priors" in fc.reason
    assert forecast(s[:20], y[:20], target_step=T, family=family).ok  # its own priors by default


def test_replays_are_made_when_first_needed_at_the_nearest_tenth(family):
    fresh = learn_family(family.runs)
    assert len(fresh.cache) == 0
    assert len(fresh.errors_at(0.42)) == 4 and {key[2] for key in fresh.cache} == {0.4}
    fresh.replay_all()
    assert {key[2] for key in fresh.cache} == set(FAMILY_CUTOFFS)


def write_csv(path, runs, planned=None):
    with open(path, "w") as fh:
        fh.write("run_id,step,tokens,lr,val_loss\n")
        for rid, (s, y) in runs.items():
            for a, b in zip(s, y):
                fh.write(f"{rid},{int(a)},,,{b}\n")
    if planned:
        runs_csv = str(path) + ".runs.csv"
        with open(runs_csv, "w") as fh:
            fh.write("run_id,planned_steps\n" + "".join(f"{k},{v}\n" for k, v in planned.items()))
        return runs_csv


def test_load_family_reads_a_csv_skips_unfinished_runs_and_caches_replays(tmp_path):
    s, y = curve(1)
    path = tmp_path / "family.csv"
    runs_csv = write_csv(path, {"a": (s, y), "b": curve(2), "short": (s[:20], y[:20])},
                         planned={"a": T, "b": T, "short": T})
    cache = tmp_path / "cache"
    fam = load_family(str(path), runs_csv=runs_csv, cache_dir=str(cache))
    assert sorted(r.run_id for r in fam.runs) == ["a", "b"]
    assert any(reason.startswith("short: not finished") for reason in fam.skipped)
    errors = fam.errors_at(0.4)
    assert len(os.listdir(cache / "family-replays")) == 2  # one replay a run, at the fraction asked
    again = load_family(str(path), runs_csv=runs_csv, cache_dir=str(cache))
    assert len(again.cache.memory) == 0 and np.array_equal(again.errors_at(0.4), errors)  # read from disk
    assert len(again.cache.memory) == 2
    # without a runs CSV every run ends at its last row: "short" counts too
    assert load_family(str(path), cache_dir=None).n_runs == 3
    with pytest.raises(FileNotFoundError):
        load_family(str(tmp_path / "missing.csv"))
    with pytest.raises(TypeError):
        family_of(42)
    assert isinstance(family_of([family_run(0)]), Family)


def test_cli_forecast_with_a_family_leaves_the_run_out(tmp_path):
    path = tmp_path / "runs.csv"
    write_csv(path, {f"r{i}": curve(i, 2.0 + 0.02 * i) for i in range(3)})
    env = dict(os.environ, SCALING_CALLBACK_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "scaling_callback.cli", "forecast", str(path), "--run", "r0", "--upto", "1600", "--json"]
    alone = json.loads(subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout)
    out = subprocess.run(cmd + ["--family", str(path)], capture_output=True, text=True, env=env, check=True)
    fam = json.loads(out.stdout)
    assert {"loss", "low", "high"} <= set(fam)
    assert any(n.startswith("family: 2 family run(s)") for n in fam["notes"])  # r0 left out of its own family
    truth = curve(0, 2.0)[1][-1]
    assert abs(fam["loss"] / truth - 1) < abs(alone["loss"] / truth - 1)
    bad = subprocess.run(cmd + ["--family", str(tmp_path / "nope.csv")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "cannot read the family" in bad.stderr
