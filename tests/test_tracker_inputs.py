"""`ScalingTracker` refusing what cannot be its run's (issue 29, bad inputs 7-8): a step that goes
back or repeats, and the saved state of another run. Plain PyTorch loops on a tiny model, with a
real optimizer and scheduler."""
import warnings

import pytest
import torch
from torch import nn

from scaling_callback import ScalingTracker

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


def _train(tracker, model, opt, sched, steps, every=10, start=1):
    """Train steps start..steps; observe a known curve every `every` steps. The reports."""
    reports = []
    for step in range(start, steps + 1):
        ids = torch.randint(0, 64, (4, 9))
        loss = nn.functional.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        tracker.count(ids[:, :-1])
        if step % every == 0:
            reports.append(tracker.observe(step, 2.0 + 3.0 * step ** -0.5, loss.item()))
    return reports


# ------------------------------------------------------------- item 7: a step that repeats or goes back


def test_a_final_evaluation_at_the_last_step_replaces_it_and_later_forecasts_still_work():
    model, opt, sched, tracker = _run()
    _train(tracker, model, opt, sched, 60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = tracker.observe(60, 2.0 + 3.0 * 60 ** -0.5 + 0.001)  # e.g. a final evaluation after the loop
        tracker.observe(60, 2.0 + 3.0 * 60 ** -0.5)
    repeats = [str(w.message) for w in caught if "observed twice" in str(w.message)]
    assert len(repeats) == 1 and "replaces" in repeats[0]  # said once
    assert again.record.ok  # was: "steps must be strictly increasing", and every later forecast too
    later = _train(tracker, model, opt, sched, 120, start=61)
    assert all(report.record.ok for report in later)
    assert tracker.history.column("step").tolist() == list(range(10, 130, 10))  # one point per step
    assert tracker.forecasts.column("step").tolist() == list(range(10, 130, 10))


def test_a_step_that_goes_back_is_refused_and_the_run_goes_on():
    model, opt, sched, tracker = _run()
    _train(tracker, model, opt, sched, 60)
    with pytest.raises(ValueError, match=r"observe\(step=5\) goes back: the history already holds step 60"):
        tracker.observe(5, 2.5)  # e.g. a step counter that restarts each epoch
    assert tracker.history.column("step").tolist()[-1] == 60  # nothing recorded
    later = _train(tracker, model, opt, sched, 120, start=61)
    assert all(report.record.ok for report in later)  # was: every later forecast failed
