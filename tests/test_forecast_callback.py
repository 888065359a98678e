"""ScalingLawCallback's forecasts and advice on real Trainers, read back from real TensorBoard files."""
import math
import warnings

import lightning.pytorch as L
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from torch.utils.data import DataLoader

from scaling_callback import ScalingLawCallback, read_scalars
from tiny_models import CurveModule, TinyGPTModule, curve_loaders, plateau_curve, random_tokens, trainer_kwargs

REQUIRED = ("forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high", "forecast/asymptotic_loss",
            "forecast/exponent", "forecast/final_step", "advice/recommended_stop_step", "advice/overfitting",
            "advice/tokens_to_data_limit")


def _accumulator(logdir):
    (events,) = [p for p in logdir.rglob("*tfevents*")]
    acc = EventAccumulator(str(events), size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    acc.Reload()
    return acc


def _texts(logdir, tag="advice/summary/text_summary"):
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in _accumulator(logdir).Tensors(tag)]


def fit_curve(tmp_path, callbacks, curve=plateau_curve, *, module=None, n_batches=400, **overrides):
    settings = dict(max_steps=400, val_check_interval=40, limit_val_batches=1)
    settings.update(overrides)
    trainer = L.Trainer(callbacks=callbacks, logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, **settings))
    trainer.fit(module or CurveModule(curve), *curve_loaders(n_batches))
    return trainer


def test_tiny_dataset_repeated_for_many_epochs_in_tensorboard(tmp_path):
    """A tiny GPT memorises 8 random sequences over 60 epochs: the validation loss turns up while
    the train loss falls. Advice: repeated data, overfitting, data limit; all in TensorBoard."""
    L.seed_everything(0)
    callback = ScalingLawCallback(figure_every=5)
    trainer = L.Trainer(callbacks=[callback], logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"),
                        **trainer_kwargs(tmp_path, max_epochs=60, check_val_every_n_epoch=4, log_every_n_steps=1))
    trainer.fit(TinyGPTModule(lr=1e-2), DataLoader(random_tokens(n_items=8), batch_size=4),
                DataLoader(random_tokens(n_items=8, seed=1), batch_size=8))
    assert callback.planned_end == trainer.global_step == 120 and len(callback.forecasts) == 15

    logged = read_scalars(str(tmp_path))
    assert set(REQUIRED) <= set(logged)
    assert logged["advice/repeated_data"][1][-1] == 1 and logged["advice/overfitting"][1][-1] == 1
    assert logged["advice/overfitting"][1][0] == 0  # not from the start
    assert logged["advice/tokens_to_data_limit"][1][-1] < 0  # 128 unique tokens for N = 6592
    ok = [r for r in callback.forecasts if r.ok]
    assert ok and logged["forecast/final_loss"][0].tolist() == [r.step for r in ok]
    low, mid, high = (logged[f"forecast/final_loss{s}"][1] for s in ("_low", "", "_high"))
    assert np.all(low <= mid) and np.all(mid <= high) and np.all(np.isfinite(mid))
    assert logged["forecast/final_step"][1].tolist() == [120.0] * 15

    acc = _accumulator(tmp_path)
    layout = layout_pb2.Layout()
    layout.ParseFromString(acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    assert len(acc.Tensors("custom_scalars__config__")) == 1  # once per writer
    margin = [c.margin for c in layout.category[0].chart if c.HasField("margin")]
    assert len(margin) == 4  # no fit=: no chart of the family's law; "cool down now" first (docs/whatif.md)
    assert layout.category[0].chart[0].title.startswith("cool down now")
    assert [(s.value, s.lower, s.upper) for s in margin[-1].series] == [  # val_loss and the band, one chart
        ("val_loss",) * 3, ("forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high")]
    texts = _texts(tmp_path)
    assert [step for step, _ in texts] == callback.history.column("step").tolist()
    last = texts[-1][1]
    # warnings as state: each raised once, then shown "since" the step it started
    assert "- **Repeated data** (since step 16): 60.0 epochs" in last
    assert "- **Overfitting** (since step 64): Overfitting since step" in last
    assert "- **Data limit** (since step 8): The plan trains on 7680 tokens, 60 epochs" in last
    pytest.importorskip("matplotlib")
    images = acc.Images("forecast/figure")
    assert images and images[0].step == ok[0].step and images[0].width == 960  # plots.FIGURE_INCHES x FIGURE_DPI


class StopAt(L.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step >= self.step:
            trainer.should_stop = True


def _nan_at_120_and_200(step, rank):
    return math.nan if step in (120, 200) else plateau_curve(step)


def _reduce_on_plateau(optimizer):
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    return {"scheduler": scheduler, "monitor": "val_loss", "interval": "epoch"}


CASES = {
    "nan val loss": (dict(module=CurveModule(_nan_at_120_and_200)), {}, "val_loss = nan at step 120",
                     "2 non-finite validation loss(es) skipped"),
    "single validation point": (dict(max_steps=40), {}, "no forecast could be made in this run",
                                "No forecast at step 40: too few points"),
    "no scheduler": ({}, {}, None, "no learning-rate scheduler: constant learning rate 0.1"),
    "unsupported scheduler": (dict(module=CurveModule(plateau_curve, scheduler=_reduce_on_plateau)), {},
                              "ReduceLROnPlateau lowers the learning rate", "ReduceLROnPlateau lowers the learning rate"),
    "infinite max_steps": (dict(max_steps=-1, max_epochs=-1, callbacks=[StopAt(200)]), {}, "no planned end",
                           "No forecast at step 200: the run has no planned end"),
    "infinite, horizons in steps": (dict(max_steps=-1, max_epochs=-1, callbacks=[StopAt(200)]),
                                    dict(horizons=[100, 300, 1000]), None,
                                    "forecasting at the furthest horizon ahead, step 1000"),
    "infinite, horizons in tokens": (dict(max_steps=-1, max_epochs=-1, callbacks=[StopAt(200)]),
                                     dict(horizons=[8_000], horizon_unit="tokens"), None,
                                     "step 1000 (horizons in tokens at 8 tokens per step)"),
}


@pytest.mark.parametrize("case", CASES)
def test_training_completes_and_says_why(tmp_path, case):
    fit_kwargs, callback_kwargs, warning, text = CASES[case]
    fit_kwargs = dict(fit_kwargs)
    callback = ScalingLawCallback(**callback_kwargs)
    callbacks = [callback] + fit_kwargs.pop("callbacks", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = fit_curve(tmp_path, callbacks, **fit_kwargs)
    ours = [str(w.message) for w in caught if "ScalingLawCallback" in str(w.message)]
    if warning is None:
        assert not ours
    else:
        assert sum(warning in m for m in ours) == 1, ours
    assert trainer.global_step == (200 if "infinite" in case else min(400, fit_kwargs.get("max_steps", 400)))
    assert text in _texts(tmp_path)[-1][1]
    logged = read_scalars(str(tmp_path))
    if "horizons" in case:
        assert all(r.ok and r.target_step == 1000 for r in callback.forecasts[1:])
        assert logged["forecast/final_step"][1].tolist() == [1000.0] * 5
        if "steps" in case:  # the horizons still ahead, up to the target
            assert logged["forecast/loss_at_step_300"][0].tolist() == [80, 120, 160, 200]
    elif case in ("single validation point", "infinite max_steps"):
        assert not any(r.ok for r in callback.forecasts) and "forecast/final_loss" not in logged
        assert logged["forecast/ok"][1].tolist() == [0.0] * len(callback.forecasts)
    else:
        assert all(r.ok for r in callback.forecasts[1:] if r.step not in (120, 200))
        assert np.all(np.isfinite(logged["forecast/final_loss"][1]))
    if case == "nan val loss":
        assert logged["forecast/points_skipped"][1][-1] == 2


def test_monitor_is_configurable(tmp_path):
    callback = ScalingLawCallback(monitor="val_perplexity")
    fit_curve(tmp_path, [callback], module=CurveModule(plateau_curve, metric="val_perplexity"))
    assert all(r.ok for r in callback.forecasts[1:]) and callback.assessment.record.ok
    assert "**Forecast:** Loss at step 400" in _texts(tmp_path)[-1][1]


def _warmup_cosine(optimizer):
    warm = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=20)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=180)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warm, cosine], milestones=[20])


class RecordLR(L.Callback):
    def __init__(self):
        self.lr = {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        self.lr[trainer.global_step] = optimizer.param_groups[0]["lr"]


@pytest.mark.parametrize("source", ["scheduler", "lr_schedule"])
def test_the_forecast_uses_the_planned_schedule_of_the_whole_run(tmp_path, source):
    """Simulated once at train start, on copies: the rates the real scheduler then uses, with
    gradient accumulation (400 micro-batches, 200 optimizer steps)."""
    if source == "scheduler":
        callback = ScalingLawCallback()
        module = CurveModule(plateau_curve, scheduler=_warmup_cosine)
    else:
        callback = ScalingLawCallback(lr_schedule=lambda step: 0.1 * min(1.0, (step + 1) / 20) * (1 - step / 200))
        module = CurveModule(plateau_curve)
    recorder = RecordLR()
    trainer = fit_curve(tmp_path, [callback, recorder], module=module, max_steps=-1, max_epochs=1,
                        accumulate_grad_batches=2, val_check_interval=80)
    assert callback.planned_end == trainer.global_step == 200
    planned_schedule = callback.tracker.planned_schedule
    steps = np.arange(200)
    planned = np.interp(steps, planned_schedule.steps, planned_schedule.lr)
    if source == "scheduler":
        used = np.array([recorder.lr[s] for s in steps])
        assert planned_schedule.source == "SequentialLR"
    else:
        used = np.array([callback.lr_schedule(s) for s in steps])
    assert planned == pytest.approx(used, abs=1e-5 * 0.1)
    assert all(r.ok for r in callback.forecasts[1:]) and callback.assessment.forecast.law == "multi-power"


def test_family_trend_from_a_saved_fit_is_logged_and_warns_off_trend(tmp_path):
    """fit= a saved cross-run law: the callback logs the loss it expects for this run's N and
    planned D beside the forecast, and warns once when the forecast's interval misses it."""
    from scaling_callback.core.crossrun import ChinchillaLaw, ScalingLawFit

    N, planned_D = 1000, 400 * 2 * 4  # 400 steps of 2 sequences of 4 tokens (curve_loaders)

    def law_expecting(loss):
        return ChinchillaLaw(E=loss - 0.1, A=0.05 * N**0.3, B=0.05 * planned_D**0.3, alpha=0.3, beta=0.3)

    def fit_expecting(loss):
        """A saved fit as `fit --save` writes one: the law and its bootstrap laws (here ±0.5%
        around it); a law without an interval would call the run off trend at any noise."""
        spread = tuple(law_expecting(loss + d) for d in np.linspace(-0.01, 0.01, 21))
        return ScalingLawFit(law=law_expecting(loss), bootstrap_laws=spread, n_bootstrap=len(spread))

    results = {}
    for name, expected in (("on", 2.0), ("above", 1.5)):
        path = tmp_path / f"{name}.json"
        fit_expecting(expected).save(path)
        callback = ScalingLawCallback(non_embedding_params=N, fit=str(path), figure_every=0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit_curve(tmp_path / name, [callback])
        logged = read_scalars(str(tmp_path / name))
        results[name] = (callback, logged, [str(w.message) for w in caught if "family's trend" in str(w.message)])

    callback, logged, warned = results["on"]
    assert logged["trend/expected_loss"][1][-1] == pytest.approx(2.0, rel=1e-9)
    # the custom-scalars layout gains the forecast beside the family's law (a 4th Margin chart,
    # listed first: the plugin lays Margin charts out last first)
    layout = layout_pb2.Layout()
    layout.ParseFromString(_accumulator(tmp_path / "on").Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    charts = [c for c in layout.category[0].chart if c.HasField("margin") and not c.title.startswith("cool down now")]
    assert len(charts) == 4 and "family's law" in charts[0].title
    assert [(s.value, s.lower, s.upper) for s in charts[0].margin.series] == [
        ("forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high"),
        ("trend/expected_loss", "trend/expected_loss_low", "trend/expected_loss_high")]
    assert logged["trend/off_trend"][1][-1] == 0 and not any("above" in w for w in warned)
    assert callback.tracker.trend.direction == "on"
    gap = logged["trend/gap"][1][-1]
    assert gap == pytest.approx(logged["forecast/final_loss"][1][-1] - 2.0, abs=1e-6)  # float32 events
    callback, logged, warned = results["above"]
    assert logged["trend/off_trend"][1][-1] == 1 and logged["trend/gap"][1][-1] > 0.4
    assert len(warned) == 1 and "above its family's trend" in warned[0]
    with pytest.raises(ValueError, match="cannot read the saved fit"):
        ScalingLawCallback(fit=str(tmp_path / "missing.json"))
