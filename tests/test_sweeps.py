"""Pruning hyperparameter trials on the forecast of their final loss: the rule (core/pruning.py)
and real Optuna studies driven by a plain loop's ScalingTracker, a Lightning Trainer and the HF
Trainer's hyperparameter_search (tiny runs whose validation loss follows a known curve)."""
import math
import warnings

import optuna
import pytest
import torch

from scaling_callback.core.pruning import ForecastPruneRule, beat_probability, reference_loss
from scaling_callback.sweeps.optuna_pruner import ForecastPruner
from scaling_callback.sweeps.optuna_trial import TrialReporter
from scaling_callback.sweeps.trial_attrs import FORECAST, LR_RATES, LR_STEPS, PLANNED_END
from scaling_callback.tracking.tracker import ScalingTracker

LEVELS = [2.45, 2.9, 2.4, 3.0]  # the final-loss floor of each trial, in the order they run
END = 200
SHORT = 100  # the Trainers' runs


def curve(level):
    return lambda step, rank=0: level + 3.0 * (step + 10) ** -0.5


def final(level, end=END):
    return curve(level)(end)


@pytest.fixture(autouse=True)
def quiet_optuna():
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def study_of(levels, pruner=None):
    study = optuna.create_study(direction="minimize", pruner=pruner or ForecastPruner())
    for level in levels:
        study.enqueue_trial({"level": level})
    return study


# ------------------------------------------------------------------------------ the rule


def test_the_probability_has_the_forecasts_quantiles():
    lo, mid, hi = 2.0, 2.2, 2.5
    assert beat_probability(mid, lo, hi, 0.8, lo) == pytest.approx(0.1, abs=1e-9)
    assert beat_probability(mid, lo, hi, 0.8, mid) == pytest.approx(0.5)
    assert beat_probability(mid, lo, hi, 0.8, hi) == pytest.approx(0.9, abs=1e-9)
    assert beat_probability(mid, mid, mid, 0.8, mid - 1e-3) == 0.0  # no spread: a step


def test_the_rule_waits_for_its_warm_up_a_reference_and_a_forecast():
    rule = ForecastPruneRule(threshold=0.05, warmup_fraction=0.25, top_k=2)
    assert reference_loss([3.0, 2.0, math.nan, 2.5], top_k=2) == 2.5
    far = dict(loss=3.0, low=2.9, high=3.1, confidence=0.8)
    assert not rule.decide(40, 200, **far, finished=[2.0, 2.1]).prune  # warm-up: before step 50
    assert not rule.decide(60, 200, **far, finished=[2.0]).prune  # one finished trial, top_k=2
    assert not rule.decide(60, 200, math.nan, math.nan, math.nan, 0.8, [2.0, 2.1]).prune  # no forecast
    assert not rule.decide(200, 200, **far, finished=[2.0, 2.1]).prune  # at its end
    judged = rule.decide(60, 200, **far, finished=[2.0, 2.1])
    assert judged.prune and judged.reference == 2.1 and judged.probability < 1e-6 and "2-th best" in judged.reason
    close = rule.decide(60, 200, loss=2.15, low=2.0, high=2.3, confidence=0.8, finished=[2.0, 2.1])
    assert not close.prune and 0.05 < close.probability < 0.5


@pytest.mark.parametrize("kwargs", [dict(threshold=0), dict(threshold=1.5), dict(warmup_fraction=1.0),
                                    dict(top_k=0), dict(threshold="0.1")])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        ForecastPruneRule(**kwargs)


# ------------------------------------------------------------------------------ Optuna, a plain loop


def plain_objective(trial):
    level = trial.suggest_float("level", 2.0, 3.0)
    tracker = ScalingTracker(non_embedding_params=1000, planned_steps=END, figure_every=0,
                             lr_schedule=lambda step: min(1.0, (step + 1) / 20))
    TrialReporter(trial).follow(tracker)
    for step in range(10, END + 1, 10):
        tracker.observe(step, curve(level)(step))
    return curve(level)(END)


def test_a_plain_loop_study_prunes_the_trials_that_cannot_win_and_keeps_their_forecast():
    pruner = ForecastPruner(family=True)
    study = study_of(LEVELS, pruner)
    study.optimize(plain_objective, n_trials=len(LEVELS))
    states = [t.state for t in study.trials]
    P, C = optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.COMPLETE
    assert states == [C, P, C, P]
    assert study.best_value == pytest.approx(final(2.4))
    for t in study.trials:
        assert t.user_attrs[PLANNED_END] == END and len(t.user_attrs[LR_STEPS]) == len(t.user_attrs[LR_RATES]) >= 2
        if t.state == P:
            kept = t.user_attrs[FORECAST]
            assert t.value == kept["loss"] and kept["low"] < kept["loss"] < kept["high"]
            assert kept["target_step"] == END and 0.2 * END <= kept["step"] < END and kept["probability"] < 0.05
            assert kept["low"] < final(t.params["level"]) < kept["high"]  # the interval holds the truth
            assert t.last_step == END  # the forecast is reported at the planned end: Optuna's value of a pruned trial
    family = pruner.family(study, study.get_trials(states=(C,)))
    assert [f.run_id for f in family] == ["0", "2"]
    assert family[0].planned_end == END and family[0].last_step == END and family[0].lr is not None
    # the last trial was forecast with the two complete ones as its family
    _, last = pruner.decision(study.study_name, 3)
    assert last.family_runs == 2 and any(n.startswith("family: 2 family run(s)") for n in last.notes)
    alone = ForecastPruner()
    alone_study = study_of(LEVELS, alone)
    alone_study.optimize(plain_objective, n_trials=len(LEVELS))
    assert alone.decision(alone_study.study_name, 3)[1].family_runs == 0


def test_the_pruner_refuses_a_maximised_study_and_a_trial_without_a_planned_end():
    study = optuna.create_study(direction="maximize", pruner=ForecastPruner())
    trial = study.ask()
    trial.report(1.0, 10)
    with pytest.raises(ValueError, match="must minimise"):
        trial.should_prune()
    study = optuna.create_study(pruner=ForecastPruner())
    trial = study.ask()
    trial.report(1.0, 10)
    with pytest.raises(ValueError, match="no planned end"):
        trial.should_prune()
    with pytest.raises(ValueError, match="value_on_prune"):
        TrialReporter(trial, value_on_prune="median")
    with pytest.raises(TypeError, match="optuna.Trial"):
        TrialReporter("trial")


def test_value_on_prune_last_keeps_optunas_own_value():
    def objective(trial):
        level = trial.suggest_float("level", 2.0, 3.0)
        reporter = TrialReporter(trial, value_on_prune="last")
        reporter.plan(END)
        for step in range(10, END + 1, 10):
            reporter.report(step, curve(level)(step))
        return final(level)

    study = study_of(LEVELS[:2])
    study.optimize(objective, n_trials=2)
    pruned = study.trials[1]
    assert pruned.state == optuna.trial.TrialState.PRUNED
    assert pruned.value == pruned.intermediate_values[pruned.last_step] and pruned.last_step < END
    assert FORECAST in pruned.user_attrs


# ------------------------------------------------------------------------------ Optuna, the Trainers


def test_a_study_of_lightning_runs_prunes_with_the_forecast_pruner(tmp_path):
    import lightning.pytorch as pl
    from tiny_models import CurveModule, curve_loaders, trainer_kwargs

    from scaling_callback import ForecastPruner as Public, OptunaPruning, ScalingLawCallback

    def objective(trial):
        level = trial.suggest_float("level", 2.0, 3.0)
        model = CurveModule(curve(level), scheduler=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, SHORT))
        trainer = pl.Trainer(**trainer_kwargs(tmp_path, max_steps=SHORT, val_check_interval=10, logger=False),
                             callbacks=[ScalingLawCallback(figure_every=0, progress_bar=False), OptunaPruning(trial)])
        trainer.fit(model, *curve_loaders(SHORT))
        return float(trainer.callback_metrics["val_loss"])

    assert Public is ForecastPruner
    study = study_of(LEVELS[:3])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(objective, n_trials=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "PRUNED", "COMPLETE"]
    pruned = study.trials[1]
    assert pruned.user_attrs[FORECAST]["step"] < SHORT and pruned.value == pruned.user_attrs[FORECAST]["loss"]
    lr = pruned.user_attrs[LR_RATES]
    assert lr[0] > lr[-1]  # the cosine schedule the forecast used, read from the Trainer's scheduler


def test_hf_hyperparameter_search_prunes_with_the_forecast_pruner(tmp_path):
    import transformers
    from tiny_hf import CurveModel, PaddedItems, StepToModel, collate, training_args

    from scaling_callback import OptunaPruningTrainerCallback, ScalingLawTrainerCallback

    levels = iter(LEVELS)

    def model_init(trial):
        return CurveModel(curve(next(levels) if trial is not None else LEVELS[0]))

    storage = f"sqlite:///{tmp_path}/study.db"
    trainer = transformers.Trainer(
        model_init=model_init, args=training_args(tmp_path, max_steps=SHORT, eval_steps=10, logging_steps=10,
                                                  report_to=[], lr_scheduler_type="cosine"),
        train_dataset=PaddedItems(40), eval_dataset=PaddedItems(4), data_collator=collate,
        callbacks=[StepToModel(), ScalingLawTrainerCallback(figure_every=0), OptunaPruningTrainerCallback()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = trainer.hyperparameter_search(
            direction="minimize", backend="optuna", n_trials=len(LEVELS), pruner=ForecastPruner(),
            hp_space=lambda trial: {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-3)},
            storage=storage, study_name="hf")
    trials = optuna.load_study(study_name="hf", storage=storage).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED"]
    assert best.objective == pytest.approx(final(2.4, SHORT), abs=1e-6)
    for t in trials[1::2]:
        kept = t.user_attrs[FORECAST]
        assert t.value == kept["loss"] and kept["step"] < SHORT
        assert t.user_attrs[LR_RATES][0] > t.user_attrs[LR_RATES][-1]  # the Trainer's cosine schedule
