"""`ScalingTracker` in a plain PyTorch loop: counts, forecasts, writes TensorBoard, resumes, and
forecasts what the Lightning callback forecasts on the same curve."""
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from scaling_callback import ScalingTracker, forecast, read_scalars
from scaling_callback.core import tags
from tiny_models import plain_loop


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(64, 16), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 64))


def test_plain_loop_counts_forecasts_and_writes_tensorboard(tmp_path):
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 200)
    writer = SummaryWriter(str(tmp_path))
    tracker = ScalingTracker(model, planned_steps=200, optimizer=opt, schedulers=sched, writer=writer,
                             figure_every=0)
    reports = plain_loop(tracker, model, opt, sched, 100)
    writer.close()
    n = 16 * 16 + 16 + 16 * 64 + 64  # the embedding is left out (Kaplan's N)
    assert tracker.n_params == n
    assert [r.observation.tokens for r in reports] == [32 * s for s in range(10, 101, 10)]
    last = reports[-1]
    assert last.record.ok and last.record.target_step == 200
    assert last.record.low < last.record.loss < last.record.high
    # the schedule decays linearly to 0 at step 200: the forecast sees the drop ahead
    assert last.assessment.forecast.law == "multi-power"
    scalars = read_scalars(str(tmp_path))
    assert scalars[tags.TOKENS][1].tolist() == [32 * s for s in range(10, 101, 10)]
    assert scalars[tags.FINAL_LOSS][1][-1] == pytest.approx(last.record.loss, rel=1e-6)
    assert scalars[tags.FLOPS][1][-1] == pytest.approx(6 * n * 3200, rel=1e-6)


def test_state_dict_resumes_the_counts_and_the_forecast():
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 200)
    whole = ScalingTracker(model, planned_steps=200, optimizer=opt, schedulers=sched)
    full = plain_loop(whole, model, opt, sched, 100)

    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 200)
    first = ScalingTracker(model, planned_steps=200, optimizer=opt, schedulers=sched)
    plain_loop(first, model, opt, sched, 50)
    state = first.state_dict()
    resumed = ScalingTracker(model, planned_steps=200, optimizer=opt, schedulers=sched)
    resumed.load_state_dict(state)
    reports = plain_loop(resumed, model, opt, sched, 100, start=51)
    assert reports[-1].observation.tokens == full[-1].observation.tokens
    assert reports[-1].record.loss == pytest.approx(full[-1].record.loss, rel=1e-9)
    assert len(resumed.history) == 10


def test_forecast_equals_the_functional_forecast_on_the_same_curve():
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=1000, lr_schedule=lambda s: 1e-3)
    steps = np.arange(50, 501, 50)
    losses = 2.0 + 3.0 * steps ** -0.4
    for s, v in zip(steps, losses):
        report = tracker.observe(int(s), float(v))
    direct = forecast(steps, losses, target_step=1000, lr=(np.array([0, 1000]), np.array([1e-3, 1e-3])))
    assert report.record.loss == pytest.approx(direct.loss, rel=1e-9)
    assert report.record.high == pytest.approx(direct.high, rel=1e-9)


def test_a_missing_loss_is_recorded_without_a_warning_and_bad_settings_are_refused(recwarn):
    tracker = ScalingTracker(non_embedding_params=10, planned_steps=100)
    report = tracker.observe(10, None)
    assert math.isnan(report.observation.val_loss) and not report.record.ok
    assert not [w for w in recwarn if "non-finite" in str(w.message)]
    with pytest.raises(RuntimeError, match="N is not known"):
        ScalingTracker(planned_steps=10).observe(1, 2.0)
    with pytest.raises(ValueError, match="planned_steps"):
        ScalingTracker(planned_steps=-5)
    with pytest.raises(ValueError, match="sum_over_ranks"):
        ScalingTracker(sum_over_ranks=3)


def test_listeners_are_told_of_every_forecast_and_can_leave():
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=1000, lr_schedule=lambda s: 1e-3)
    told, other = [], []
    tracker.add_listener(told.append)
    tracker.add_listener(told.append)  # already there: told once
    tracker.add_listener(other.append)
    reports = [tracker.observe(s, 2.0 + 3.0 * s ** -0.4) for s in (50, 100, 150)]
    assert told == other == [r.record for r in reports]
    tracker.remove_listener(told.append)
    tracker.remove_listener(print)  # not there: nothing happens
    last = tracker.observe(200, 2.0 + 3.0 * 200 ** -0.4)
    assert len(told) == 3 and other[-1] is last.record
    tracker.observe(250, 2.1, publish=False)  # an adapter publishes once the record is shared
    assert len(other) == 4
    tracker.publish_forecast(tracker.forecasts[-1])
    assert other[-1] is tracker.forecasts[-1]
    with pytest.raises(TypeError, match="callable"):
        tracker.add_listener("not a function")


def test_no_forecast_tells_no_listener():
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=1000, forecast=False)
    told = []
    tracker.add_listener(told.append)
    tracker.observe(50, 2.5)
    tracker2 = ScalingTracker(non_embedding_params=1000, planned_steps=1000)
    tracker2.add_listener(told.append)
    tracker2.observe(50, 2.5, forecast=False)  # another process forecasts
    assert told == []


def test_one_settings_object_for_the_tracker_and_both_callbacks():
    from scaling_callback import ScalingLawCallback
    from scaling_callback.tracking.settings import TrackerSettings

    settings = TrackerSettings(min_delta=0.02, confidence=0.9, horizons=[300, 100])
    assert settings.horizons == (100.0, 300.0) and settings.forecast is True
    tracker = ScalingTracker(non_embedding_params=10, settings=settings, figure_every=0)  # a keyword overrides
    assert tracker.settings.min_delta == tracker.min_delta == 0.02 and tracker.figure_every == 0
    assert settings.figure_every == 10  # frozen: the override made a new one
    callback = ScalingLawCallback(settings=settings, convention="total")
    assert callback.min_delta == 0.02 and callback.convention == "total" and callback.horizons == (100.0, 300.0)
    with pytest.raises(TypeError, match="'min_dleta'.*did you mean 'min_delta'"):
        ScalingTracker(min_dleta=0.1)
    with pytest.raises(TypeError, match="ScalingLawCallback.*'sumover'"):
        ScalingLawCallback(sumover=3)
    with pytest.raises(TypeError, match="settings must be a TrackerSettings"):
        ScalingTracker(settings={"min_delta": 0.1})
    for bad, says in [(dict(min_delta=0), "min_delta"), (dict(confidence=1.0), "confidence"),
                      (dict(figure_every=-1), "figure_every"), (dict(convention="x"), "convention"),
                      (dict(horizons=[-1]), "horizons"), (dict(lr_schedule=3), "lr_schedule")]:
        with pytest.raises(ValueError, match=says):
            TrackerSettings(**bad)
        with pytest.raises(ValueError, match=says):
            ScalingTracker(**bad)


def test_the_planned_schedule_is_typed_and_saved_in_the_unchanged_file_format(tmp_path):
    import json

    from scaling_callback.io import SCHEDULE_FORMAT
    from scaling_callback.tracking.planned import PlannedSchedule

    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 200)
    tracker = ScalingTracker(model, planned_steps=200, optimizer=opt, schedulers=sched)
    planned = tracker.planned_schedule
    assert isinstance(planned, PlannedSchedule) and planned.end == 200 and planned.source == "LambdaLR"
    assert planned.steps.tolist() == [0, 200] and planned.lr == pytest.approx([0.1, 0.0])
    assert planned.note is None and not planned.steps.flags.writeable
    path = tracker.save_schedule(str(tmp_path))
    with open(path) as f:
        body = json.load(f)
    assert body == {"format": SCHEDULE_FORMAT, "planned_end": 200, "source": "LambdaLR", "monitor": "val_loss",
                    "steps": [0, 200], "lr": planned.lr.tolist()}
    back = PlannedSchedule.read(str(tmp_path))
    assert back.steps.tolist() == planned.steps.tolist() and back.lr.tolist() == planned.lr.tolist()
    assert (back.end, back.source) == (200, "LambdaLR")
    # the checkpoint form is the dict it always was
    assert tracker.state_dict()["schedule"] == {"steps": [0, 200], "lr": planned.lr.tolist(), "end": 200,
                                                "source": "LambdaLR", "note": None}
    with pytest.warns(UserWarning, match="could not be simulated"):
        unreadable = ScalingTracker(non_embedding_params=10, planned_steps=50, schedulers=[object()])
    assert not unreadable.planned_schedule.known and unreadable.planned_schedule.source == "none"
