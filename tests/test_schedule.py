"""simulate_lr_schedule against real torch optimizers and schedulers, and a real Lightning Trainer."""
import copy

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as S

from scaling_callback.tracking.schedule import SchedulerStepping, SimulatedSchedule, simulate_lr_schedule

TOTAL = 60  # planned optimizer steps of the toy runs


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))


def _batch(i):
    g = torch.Generator().manual_seed(1000 + i)
    x = torch.randn(16, 4, generator=g)
    return x, x.sum(dim=1, keepdim=True).sin()


def _train_step(model, opt, i):
    x, y = _batch(i)
    opt.zero_grad()
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()


# (name, optimizer factory, scheduler factory): all with TOTAL steps in mind
def _adamw(m):
    return torch.optim.AdamW(m.parameters(), lr=1e-2)


def _sgd(m):
    return torch.optim.SGD(m.parameters(), lr=1e-2, momentum=0.9)


CASES = {
    "LambdaLR warm-up": (_adamw, lambda o: S.LambdaLR(o, lambda s: min(1.0, (s + 1) / 10))),
    "CosineAnnealingLR": (_adamw, lambda o: S.CosineAnnealingLR(o, T_max=TOTAL, eta_min=1e-4)),
    "OneCycleLR betas": (_adamw, lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=TOTAL)),
    "OneCycleLR momentum": (_sgd, lambda o: S.OneCycleLR(o, max_lr=0.05, total_steps=TOTAL,
                                                          anneal_strategy="linear")),
    "LinearLR": (_adamw, lambda o: S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=20)),
    "StepLR": (_sgd, lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": (_sgd, lambda o: S.MultiStepLR(o, milestones=[10, 25, 40], gamma=0.3)),
    "ExponentialLR": (_sgd, lambda o: S.ExponentialLR(o, gamma=0.97)),
    "PolynomialLR": (_adamw, lambda o: S.PolynomialLR(o, total_iters=TOTAL, power=2.0)),
    "CosineAnnealingWarmRestarts": (_adamw, lambda o: S.CosineAnnealingWarmRestarts(o, T_0=13)),
    "CyclicLR": (_sgd, lambda o: S.CyclicLR(o, base_lr=1e-3, max_lr=1e-2, step_size_up=9)),
    "SequentialLR warm-up + cosine": (_adamw, lambda o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.01, total_iters=10), S.CosineAnnealingLR(o, T_max=TOTAL - 10)],
        milestones=[10])),
    "SequentialLR lambda warm-up + constant + linear decay (WSD)": (_adamw, lambda o: S.SequentialLR(
        o, [S.LambdaLR(o, lambda s: (s + 1) / 8), S.ConstantLR(o, factor=1.0, total_iters=1),
            S.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=15)], milestones=[8, 45])),
    "ChainedScheduler": (_sgd, lambda o: S.ChainedScheduler(
        [S.ConstantLR(o, factor=0.2, total_iters=12), S.ExponentialLR(o, gamma=0.98)])),
}


def _state(sched):
    return copy.deepcopy({k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"})


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("start", [0, 23])
def test_simulation_matches_real_run_and_leaves_it_untouched(name, start):
    make_opt, make_sched = CASES[name]
    model, twin = _model(), _model()
    opt, twin_opt = make_opt(model), make_opt(twin)
    sched, twin_sched = make_sched(opt), make_sched(twin_opt)

    real_lrs, twin_lrs, sim = [], [], None
    for i in range(TOTAL):
        if i == start:
            before_sched, before_opt = _state(sched), copy.deepcopy(opt.state_dict())
            sim = simulate_lr_schedule(opt, sched, TOTAL, current_step=i)
            assert _state(sched) == before_sched
            assert str(opt.state_dict()) == str(before_opt)
            assert hasattr(opt.step, "_wrapped_by_lr_sched") and sched.optimizer is opt
        real_lrs.append(opt.param_groups[0]["lr"])
        twin_lrs.append(twin_opt.param_groups[0]["lr"])
        _train_step(model, opt, i)
        sched.step()
        _train_step(twin, twin_opt, i)
        twin_sched.step()
    real_lrs.append(opt.param_groups[0]["lr"])

    assert sim.note is None
    np.testing.assert_array_equal(sim.steps, np.arange(start, TOTAL + 1))
    np.testing.assert_allclose(sim.lr, real_lrs[start:], rtol=1e-12, atol=0)
    # the simulated run trained exactly like the twin that was never simulated
    assert real_lrs[:-1] == twin_lrs
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    for key in ("momentum", "betas"):
        assert opt.param_groups[0].get(key) == twin_opt.param_groups[0].get(key)


def test_several_param_groups_each_simulated():
    model = _model()
    opt = torch.optim.AdamW([{"params": model[0].parameters(), "lr": 1e-2},
                             {"params": model[2].parameters(), "lr": 3e-3}])
    sched = S.LambdaLR(opt, [lambda s: 1.0 / (1 + s), lambda s: 0.9 ** s])
    sim0 = simulate_lr_schedule(opt, sched, 30)
    sim1 = simulate_lr_schedule(opt, sched, 30, param_group=1)
    np.testing.assert_allclose(sim0.lr, [1e-2 / (1 + s) for s in range(31)], rtol=1e-12)
    np.testing.assert_allclose(sim1.lr, [3e-3 * 0.9 ** s for s in range(31)], rtol=1e-12)
    with pytest.raises(ValueError, match="param_group 2"):
        simulate_lr_schedule(opt, sched, 30, param_group=2)


def test_epoch_interval_and_frequency():
    steps_per_epoch, total = 7, 50
    model = _model()
    opt = _sgd(model)
    per_epoch = S.StepLR(opt, step_size=1, gamma=0.5)  # epoch interval, every 2nd epoch
    per_step = S.LambdaLR(opt, lambda s: 1.0 / (1 + s))  # step interval, every 3rd step
    sim = simulate_lr_schedule(opt, [SchedulerStepping(per_epoch, "epoch", 2),
                                     SchedulerStepping(per_step, "step", 3)],
                               total, steps_per_epoch=steps_per_epoch)
    lrs = []
    for i in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        _train_step(model, opt, i)
        if (i + 1) % 3 == 0:
            per_step.step()
        if (i + 1) % steps_per_epoch == 0 and ((i + 1) // steps_per_epoch) % 2 == 0:
            per_epoch.step()
    lrs.append(opt.param_groups[0]["lr"])
    np.testing.assert_allclose(sim.lr, lrs, rtol=1e-12)
    assert sim.source == "LambdaLR+StepLR"


def test_what_cannot_be_known_is_held_constant_and_said():
    model = _model()
    opt = _sgd(model)
    plateau = S.ReduceLROnPlateau(opt)
    sim = simulate_lr_schedule(opt, plateau, 100)
    assert sim.source == "constant" and np.all(sim.lr == 1e-2)
    assert "ReduceLROnPlateau" in sim.note and "cannot be known ahead" in sim.note

    class HandRolled:  # not an LRScheduler: e.g. a scheduler stepped by user code
        def __init__(self, optimizer):
            self.optimizer = optimizer

        def step(self):
            for g in self.optimizer.param_groups:
                g["lr"] *= 0.5

    sim = simulate_lr_schedule(opt, HandRolled(opt), 10)
    assert np.all(sim.lr == 1e-2) and "HandRolled is not a torch LRScheduler" in sim.note

    sim = simulate_lr_schedule(opt, SchedulerStepping(S.StepLR(opt, 1), "epoch"), 10)
    assert np.all(sim.lr == 1e-2) and "optimizer steps per epoch" in sim.note

    sim = simulate_lr_schedule(opt, [], 10)  # no scheduler: constant, nothing assumed
    assert sim.note is None and sim.lr.size == 11


def test_scheduler_that_raises_is_held_at_its_last_rate():
    model = _model()
    opt = _adamw(model)
    sched = S.OneCycleLR(opt, max_lr=0.05, total_steps=20)  # the run plans 30 steps
    sim = simulate_lr_schedule(opt, sched, 30)
    assert "OneCycleLR raised at step 21" in sim.note
    assert np.all(sim.lr[21:] == sim.lr[20]) and np.all(np.isfinite(sim.lr))
    assert sched.last_epoch == 0  # the real one never moved


def test_bound_method_lambda_owner_is_shared_not_copied():
    class Owner(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.big = torch.nn.Parameter(torch.zeros(1000, 1000))
            self.calls = 0

        def lr_lambda(self, step):
            self.calls += 1
            return 0.5 ** step

    owner = Owner()
    opt = torch.optim.SGD([owner.big], lr=1.0)
    sched = S.LambdaLR(opt, owner.lr_lambda)
    calls_before = owner.calls
    sim = simulate_lr_schedule(opt, sched, 10)
    np.testing.assert_allclose(sim.lr, 0.5 ** np.arange(11))
    assert owner.calls == calls_before + 10  # the copy called the real owner: nothing was copied


def test_user_callable_and_bad_input():
    sim = simulate_lr_schedule(None, lr_schedule=lambda s: 1e-3 * min(1.0, (s + 1) / 5),
                               total_steps=20, current_step=2)
    assert sim.source == "lr_schedule" and sim.note is None
    np.testing.assert_allclose(sim.lr, [1e-3 * min(1.0, (s + 1) / 5) for s in range(2, 21)])
    assert sim.lr_at(2) == sim.lr[0] and sim.lr_at(1000) == sim.lr[-1]
    np.testing.assert_allclose(sim.lr_at(np.array([3, 4])), sim.lr[1:3])
    with pytest.raises(ValueError, match="lr_schedule\\(3\\)"):
        simulate_lr_schedule(None, lr_schedule=lambda s: float("nan") if s == 3 else 1.0, total_steps=5)
    with pytest.raises(ValueError, match="current_step <= total_steps"):
        simulate_lr_schedule(None, lr_schedule=lambda s: 1.0, total_steps=5, current_step=6)
    opt = _sgd(_model())
    with pytest.raises(ValueError, match="interval"):
        simulate_lr_schedule(opt, SchedulerStepping(S.StepLR(opt, 1), "batch"), 5)
    with pytest.raises(ValueError, match="give an optimizer"):
        simulate_lr_schedule(None, [], 5)
    assert isinstance(simulate_lr_schedule(opt, [], 0), SimulatedSchedule)


def test_lightning_optimizer_wrapper_is_seen_through():
    core = pytest.importorskip("lightning.pytorch.core.optimizer")
    opt = _adamw(_model())
    sched = S.CosineAnnealingLR(opt, T_max=10)
    sim = simulate_lr_schedule(core.LightningOptimizer(opt), sched, 10)
    assert sim.source == "CosineAnnealingLR" and sim.lr[-1] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------------------
# A real Lightning Trainer: what it actually sets equals what was simulated at train start

pl = pytest.importorskip("lightning.pytorch")


class _TinyModule(pl.LightningModule):
    def __init__(self, interval, frequency):
        super().__init__()
        self.net = _model()
        self.interval, self.frequency = interval, frequency

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=1e-2)
        if self.interval == "step":
            sched = S.SequentialLR(opt, [S.LinearLR(opt, 0.1, total_iters=5),
                                         S.CosineAnnealingLR(opt, T_max=40)], milestones=[5])
        else:
            sched = S.StepLR(opt, step_size=1, gamma=0.7)
        return {"optimizer": opt,
                "lr_scheduler": {"scheduler": sched, "interval": self.interval, "frequency": self.frequency}}


class _Recorder(pl.Callback):
    def __init__(self):
        self.sim, self.used = None, []

    def on_train_start(self, trainer, pl_module):
        opt = trainer.optimizers[0]
        self.sim = simulate_lr_schedule(opt, trainer.lr_scheduler_configs, trainer.max_steps,
                                        current_step=trainer.global_step,
                                        steps_per_epoch=trainer.num_training_batches)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.used.append(trainer.optimizers[0].param_groups[0]["lr"])


@pytest.mark.parametrize("interval,frequency", [("step", 1), ("epoch", 2)])
def test_lightning_trainer_uses_the_simulated_rates(tmp_path, interval, frequency):
    x = torch.randn(48, 4, generator=torch.Generator().manual_seed(0))
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)),
                                       batch_size=8)  # 6 steps per epoch
    rec = _Recorder()
    trainer = pl.Trainer(max_steps=45, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[rec], default_root_dir=tmp_path,
                         accelerator="cpu", devices=1)
    trainer.fit(_TinyModule(interval, frequency), data)
    assert len(rec.used) == 45 and rec.sim.note is None
    np.testing.assert_allclose(rec.sim.lr[:45], rec.used, rtol=1e-12)
