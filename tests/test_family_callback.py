"""Family mode from the tracker and the callbacks: finished runs of the same recipe sharpen a new
run's forecast. Real Trainers on tiny models, read back from real TensorBoard event files."""
import os
import warnings

import lightning.pytorch as L
import numpy as np
import pytest

from scaling_callback import FamilyRun, ScalingLawCallback, ScalingTracker, learn_family, load_family, read_scalars
from tiny_models import CurveModule, curve_loaders, trainer_kwargs

PLANNED_END = 200  # max_steps: 10 validations, the last at the planned end (a finished run)
EVERY = 20


def constant(step):
    return 1.0


def recipe(seed):
    """One recipe's validation curve; the seed moves its noise (the runs of a family)."""
    noise = np.random.default_rng(seed).standard_normal(PLANNED_END + 1)
    return lambda step, rank=0: 2.0 + 3.0 * (step + 10) ** -0.5 + 0.003 * float(noise[min(step, PLANNED_END)])


def train(root, seed, callbacks, version, name="runs"):
    logger = L.loggers.TensorBoardLogger(str(root), name=name, version=version)
    trainer = L.Trainer(callbacks=callbacks, logger=logger, **trainer_kwargs(
        root, max_steps=PLANNED_END, val_check_interval=EVERY, limit_val_batches=1))
    trainer.fit(CurveModule(recipe(seed)), *curve_loaders(PLANNED_END))
    return logger.log_dir


@pytest.fixture(autouse=True)
def replay_cache(tmp_path, monkeypatch):
    """load_family caches the family's replays on disk: here, never in ~/.cache."""
    monkeypatch.setenv("SCALING_CALLBACK_CACHE", str(tmp_path / "cache"))


def _band(logged, step):
    steps, low = logged["forecast/final_loss_low"]
    high = logged["forecast/final_loss_high"][1]
    return float(high[list(steps).index(step)] - low[list(steps).index(step)])


def test_three_finished_runs_narrow_the_fourth_runs_band(tmp_path):
    """Three runs of one recipe (seeds 0-2) finish; a fourth (seed 3), in the same folder, is
    given the folder as its family, and the same run again elsewhere without it. The family's band
    is narrower late in the run, says by how many runs, and the run's own folder (unfinished, in
    the family's folder) is never its own family."""
    family_dirs = [train(tmp_path, seed, [ScalingLawCallback(figure_every=0, progress_bar=False)], seed)
                   for seed in range(3)]
    assert load_family(str(tmp_path / "runs")).n_runs == 3  # finished: the last validation at the planned end
    with_family = ScalingLawCallback(figure_every=0, progress_bar=False, family=str(tmp_path / "runs"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # read without a warning: every other run in it is finished
        own = train(tmp_path, 3, [with_family], 3)
    assert own not in family_dirs and with_family.tracker.own_log_dirs() == (own,)
    alone = train(tmp_path, 3, [ScalingLawCallback(figure_every=0, progress_bar=False)], 0, name="alone")

    logged, without = read_scalars(own), read_scalars(alone)
    assert np.array_equal(logged["val_loss"][1], without["val_loss"][1])  # the same run
    steps, family_runs = logged["forecast/family_runs"]
    assert steps.tolist() == list(range(2 * EVERY, PLANNED_END + 1, EVERY))  # every forecast (from two points on)
    assert "forecast/family_runs" not in without
    late = [s for s in steps if s >= 0.3 * PLANNED_END]
    assert all(n == 3 for s, n in zip(steps, family_runs) if s in late)  # the fourth run itself is not among them
    for step in late:
        assert _band(logged, step) < 0.9 * _band(without, step), step

    assert "family: 3 runs informed this forecast" in dict(_texts(own))[160]
    assert "family" not in dict(_texts(alone))[160]


def _observe(tracker, seed):
    """A plain loop's evaluations of one run of the recipe; the last report."""
    curve = recipe(seed)
    for step in range(EVERY, PLANNED_END + 1, EVERY):
        report = tracker.observe(step, curve(step))
    return report


def _family_runs(seeds, ids):
    curves = [recipe(seed) for seed in seeds]
    steps = tuple(float(s) for s in range(EVERY, PLANNED_END + 1, EVERY))
    return [FamilyRun(i, steps, tuple(c(int(s)) for s in steps), PLANNED_END) for i, c in zip(ids, curves)]


def test_plain_tracker_with_family_runs_leaves_its_own_log_dir_out(tmp_path):
    """family=[FamilyRun, ...]: the run whose id is the tracker's writer's log dir is this run, not
    its family; the others narrow the band and the Text tab says how many."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path / "mine"))
    runs = _family_runs([0, 1, 2], ["a", "b", os.path.abspath(str(tmp_path / "mine"))])
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant, writer=writer, family=runs)
    assert tracker.family == tuple(runs)
    with_family = _observe(tracker, 3)
    writer.close()
    alone = _observe(ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant), 3)
    fc, plain = with_family.assessment.forecast, alone.assessment.forecast
    assert fc.family_runs == 2 and with_family.metrics["forecast/family_runs"] == 2
    assert fc.high - fc.low < plain.high - plain.low and "forecast/family_runs" not in alone.metrics
    assert "family: 2 runs informed this forecast" in _texts(str(tmp_path / "mine"))[-1][1]


def _write_csv(path, seeds, rows=PLANNED_END // EVERY):
    with open(path, "w") as fh:
        fh.write("run_id,step,val_loss\n")
        for seed in seeds:
            curve = recipe(seed)
            fh.writelines(f"run{seed},{s},{curve(s)!r}\n" for s in range(EVERY, EVERY * rows + 1, EVERY))
    return str(path)


def test_plain_tracker_with_a_curves_csv(tmp_path):
    """family="runs.csv": each of its runs ends at its last row; read once, at the first forecast."""
    path = _write_csv(tmp_path / "runs.csv", [0, 1])
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant, family=path)
    assert tracker.family == path
    report = _observe(tracker, 3)
    assert report.assessment.forecast.family_runs == 2
    assert any(n.startswith("family: 2 family run(s)") for n in report.assessment.notes)
    assert os.listdir(tmp_path / "cache" / "family-replays")  # the replays cached where the test said


def test_bad_families_are_clear(tmp_path):
    """A family of a wrong type or a path that is not there: an error when made. A family without
    a finished run, or one that cannot be read: one warning, and the forecast goes on without it."""
    with pytest.raises(TypeError, match="family must be a Family, the path"):
        ScalingLawCallback(family=3)
    with pytest.raises(TypeError, match="a list holding int"):
        ScalingTracker(non_embedding_params=1000, family=[str(tmp_path), 3])
    with pytest.raises(FileNotFoundError, match="family: no such file or directory: .*nowhere"):
        ScalingTracker(non_embedding_params=1000, family=[str(tmp_path / "nowhere")])

    short = _write_csv(tmp_path / "short.csv", [0, 1], rows=3)  # 3 validations: no run of it counts
    garbled = tmp_path / "garbled.csv"
    garbled.write_text("run_id,step,val_loss\na,ten,2.5\n")
    for family, why in ((short, "none of its runs is finished.*3 validation"), (str(garbled), "could not be read")):
        tracker = ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant, family=family)
        with pytest.warns(UserWarning, match=why) as caught:
            report = _observe(tracker, 3)
        assert len([w for w in caught if "family" in str(w.message)]) == 1
        assert report.record.ok and report.assessment.forecast.family_runs == 0
        assert "forecast/family_runs" not in report.metrics
        assert any(n.startswith("family:") for n in report.assessment.notes)


def test_resume_keeps_going_with_the_family(tmp_path):
    """The family is configuration: a tracker made again with it loads the saved state and forecasts
    on with the family."""
    runs = learn_family(_family_runs([0, 1], ["a", "b"]))  # a Family: replayed once, here
    first = ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant, family=runs)
    curve = recipe(3)
    for step in range(EVERY, 101, EVERY):
        first.observe(step, curve(step))
    again = ScalingTracker(non_embedding_params=1000, planned_steps=PLANNED_END, lr_schedule=constant, family=runs)
    again.load_state_dict(first.state_dict())
    for step in range(120, PLANNED_END + 1, EVERY):
        report = again.observe(step, curve(step))
    assert len(again.forecasts) == PLANNED_END // EVERY and report.assessment.forecast.family_runs == 2


def _hf_run(logging_dir, seed, callback, monkeypatch):
    pytest.importorskip("accelerate")  # the Trainer needs it
    import transformers
    from tiny_hf import CurveModel, PaddedItems, StepToModel, collate, training_args

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(logging_dir))  # where HF's TensorBoardCallback writes
    args = training_args(logging_dir.parent / "out", max_steps=PLANNED_END,
                         eval_steps=EVERY, per_device_train_batch_size=2, optim="sgd", learning_rate=0.1,
                         per_device_eval_batch_size=1, logging_steps=PLANNED_END, lr_scheduler_type="cosine")
    trainer = transformers.Trainer(model=CurveModel(recipe(seed)), args=args, train_dataset=PaddedItems(2 * PLANNED_END),
                                   eval_dataset=PaddedItems(1, seed=1), data_collator=collate,
                                   callbacks=[StepToModel(), callback])
    trainer.train()


def test_hf_run_with_an_earlier_run_as_its_family(tmp_path, monkeypatch):
    """ScalingLawTrainerCallback(family=folder): the earlier run in the folder (its loss read from
    HF's eval/loss, its cosine schedule from beside its events) informs the forecast; the run's own
    log dir in the same folder does not."""
    from scaling_callback.hf import ScalingLawTrainerCallback

    _hf_run(tmp_path / "logs" / "a", 0, ScalingLawTrainerCallback(figure_every=0), monkeypatch)
    callback = ScalingLawTrainerCallback(figure_every=0, family=str(tmp_path / "logs"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        _hf_run(tmp_path / "logs" / "b", 1, callback, monkeypatch)
    steps, family_runs = read_scalars(str(tmp_path / "logs" / "b"))["forecast/family_runs"]
    assert family_runs[steps >= 0.3 * PLANNED_END].tolist() == [1] * 8
    assert callback.tracker.assessment.forecast.family_runs == 1


def _texts(logdir, tag="advice/summary/text_summary"):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(logdir, size_guidance={"tensors": 0})
    acc.Reload()
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in acc.Tensors(tag)]
