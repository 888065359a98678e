"""`ScalingTracker` refusing what cannot be its run's (issue 29, bad inputs 7-8): a step that goes
back or repeats, and the saved state of another run. Plain PyTorch loops on a tiny model, with a
real optimizer and scheduler."""
import warnings

import pytest
import torch
from torch import nn

from scaling_callback import ScalingTracker
from tiny_models import plain_loop

PLANNED = 200


def _run(width=16, planned=PLANNED, scheduler="lambda", convention="kaplan"):
    """(model, optimizer, scheduler, tracker) of a fresh run."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(64, width), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 64))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = (torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / planned) if scheduler == "lambda"
             else torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=planned))
    tracker = ScalingTracker(model, planned_steps=planned, optimizer=opt, schedulers=sched, convention=convention)
    return model, opt, sched, tracker


# ------------------------------------------------------------- item 7: a step that repeats or goes back


def test_a_final_evaluation_at_the_last_step_replaces_it_and_later_forecasts_still_work():
    model, opt, sched, tracker = _run()
    plain_loop(tracker, model, opt, sched, 60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tracker.observe(60, 2.0 + 3.0 * 60 ** -0.5 + 0.001)  # e.g. a final evaluation after the loop
        tracker.observe(60, 2.0 + 3.0 * 60 ** -0.5)
    repeats = [str(w.message) for w in caught if "observed twice" in str(w.message)]
    assert len(repeats) == 1 and "replaces" in repeats[0]  # said once
    assert again.record.ok  # was: "steps must be strictly increasing", and every later forecast too
    later = plain_loop(tracker, model, opt, sched, 120, start=61)
    assert all(report.record.ok for report in later)
    assert tracker.history.column("step").tolist() == list(range(10, 130, 10))  # one point per step
    assert tracker.forecasts.column("step").tolist() == list(range(10, 130, 10))


def test_a_step_that_goes_back_is_refused_and_the_run_goes_on():
    model, opt, sched, tracker = _run()
    plain_loop(tracker, model, opt, sched, 60)
    with pytest.raises(ValueError, match=r"observe\(step=5\) goes back: the history already holds step 60"):
        tracker.observe(5, 2.5)  # e.g. a step counter that restarts each epoch
    assert tracker.history.column("step").tolist()[-1] == 60  # nothing recorded
    later = plain_loop(tracker, model, opt, sched, 120, start=61)
    assert all(report.record.ok for report in later)  # was: every later forecast failed


# ------------------------------------------------------------------- item 8: another run's state


def test_the_state_of_another_run_is_refused_naming_what_differs():
    model, opt, sched, first = _run()
    plain_loop(first, model, opt, sched, 50)
    state = first.state_dict()
    model, opt, sched, other = _run(width=48, planned=400, scheduler="cosine", convention="total")
    with pytest.raises(ValueError) as info:
        other.load_state_dict(state)  # was accepted: C/(6D) then read the first run's N at its points
    message = str(info.value)
    for difference in ("convention 'kaplan' in the state and 'total' here", "1,360 in the state and 8,560 here",
                       "planned end is step 200 in the state and step 400 here",
                       "'LambdaLR' in the state and 'CosineAnnealingLR' here", "Nothing was loaded"):
        assert difference in message, message
    assert len(other.history) == 0 and other.tokens() == 0
    # a state of an earlier version (no N saved): told by the history's compute per token
    earlier = {key: value for key, value in state.items() if key not in ("n_params", "convention", "planned_steps")}
    model, opt, sched, wider = _run(width=48)
    with pytest.raises(ValueError, match=r"key 'history': its compute per token C/\(6D\) is 1,360 in the state and 5,488 here"):
        wider.load_state_dict(earlier)
    # loaded before N is known (as Lightning does): compared when the model is set
    unset = ScalingTracker(planned_steps=PLANNED)
    unset.load_state_dict(state)
    with pytest.raises(ValueError, match="N \\(the parameters counted\\) is 1,360 in the state and 5,488 here"):
        unset.set_model(model)


def test_a_true_resume_and_a_deliberate_new_plan_still_load():
    model, opt, sched, first = _run()
    plain_loop(first, model, opt, sched, 50)
    state = first.state_dict()
    resumed = ScalingTracker(model, planned_steps=PLANNED, optimizer=opt, schedulers=sched)
    resumed.load_state_dict(state)  # the same run: loads
    assert all(r.record.ok for r in plain_loop(resumed, model, opt, sched, 100, start=51))
    longer = ScalingTracker(model, planned_steps=None, optimizer=opt, schedulers=sched)
    longer.load_state_dict(state)  # the way the refusal names to change the plan on purpose
    longer.planned_steps = 2 * PLANNED
    report = plain_loop(longer, model, opt, sched, 60, start=51)[-1]
    assert report.record.ok and report.record.target_step == 2 * PLANNED
