"""A real local Ray Tune run (2 CPUs) whose trials report a ScalingTracker's forecast with each
result: ForecastScheduler stops the trials whose final loss cannot beat the best finished one."""
import os

import pytest

ray = pytest.importorskip("ray")
from ray import tune  # noqa: E402

from scaling_callback import ForecastScheduler, tune_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
END = 200


def train(config):
    from scaling_callback import ScalingTracker

    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=END, figure_every=0,
                             lr_schedule=lambda step: min(1.0, (step + 1) / 20))
    for step in range(10, END + 1, 10):
        report = tracker.observe(step, config["level"] + 3.0 * (step + 10) ** -0.5)
        tune.report(tune_result(tracker, report))


@pytest.fixture(scope="module")
def local_ray():
    # the workers import this tree's package, whatever the installed one is
    path = os.pathsep.join([ROOT, os.path.join(ROOT, "tests"), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def test_ray_tune_stops_the_trials_the_forecast_rules_out(local_ray, tmp_path):
    scheduler = ForecastScheduler()
    tuner = tune.Tuner(train, param_space={"level": tune.grid_search([2.2, 2.9, 2.3])},
                       tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=scheduler,
                                                   max_concurrent_trials=1, reuse_actors=True),
                       run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    results = {r.config["level"]: r.metrics for r in tuner.fit()}
    assert results[2.2]["step"] == END  # the first trial has nothing to beat: it runs to its end
    for level in (2.9, 2.3):  # neither can beat it (2.3 + 3/√210 > 2.2 + 3/√210)
        assert 0.2 * END <= results[level]["step"] < END
    assert len(scheduler.stopped) == 2 and len(scheduler.finished) == 1
    for trial_id in scheduler.stopped:
        decision = scheduler.decisions[trial_id]
        assert decision.prune and decision.probability < scheduler.rule.threshold
        assert decision.reference == pytest.approx(results[2.2]["val_loss"])
    family = scheduler.family()
    assert len(family) == 1 and family[0].planned_end == END and family[0].last_step == END


def test_the_scheduler_judges_losses_only():
    with pytest.raises(ValueError, match="mode must be 'min'"):
        ForecastScheduler(mode="max")
