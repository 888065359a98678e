"""`OptunaPruning`: a Lightning callback that reports a run's validations to an Optuna trial and
stops it when the study's pruner (a `ForecastPruner`) prunes it, on the forecasts of a
ScalingLawCallback in the same Trainer."""
from __future__ import annotations

import pytorch_lightning

from ..lightning.callback import ScalingLawCore
from .optuna_trial import TrialReporter

try:  # the `lightning` package is optional
    import lightning.pytorch as lightning_pytorch
except ImportError:
    lightning_pytorch = None


class OptunaPruningCore:
    """Reports each validation's loss to `trial` with the run's planned end and learning-rate
    schedule (`TrialReporter`), and raises `optuna.TrialPruned` out of `trainer.fit` when the
    study prunes it (as Optuna's own PyTorchLightningPruningCallback does).

        trainer = pl.Trainer(max_steps=2000, val_check_interval=100,
                             callbacks=[ScalingLawCallback(), OptunaPruning(trial)])

    Needs a ScalingLawCallback that forecasts in the same Trainer (its forecasts mark the
    validations) and one process (a RuntimeError otherwise). value_on_prune: see TrialReporter.
    """

    def __init__(self, trial, value_on_prune: str = "forecast"):
        self.reporter = TrialReporter(trial, value_on_prune=value_on_prune)

    @property
    def state_key(self) -> str:
        return type(self).__qualname__

    def setup(self, trainer, pl_module, stage) -> None:
        if stage != "fit":
            return
        if trainer.world_size > 1:
            raise RuntimeError(f"{type(self).__qualname__} reports to one Optuna trial from one process; this "
                               f"Trainer runs {trainer.world_size}")
        sources = [cb for cb in trainer.callbacks if isinstance(cb, ScalingLawCore) and cb.forecasting]
        if not sources:
            raise RuntimeError(f"{type(self).__qualname__} reports at the forecasts of a ScalingLawCallback, but the "
                               "Trainer has none that forecasts. Use both: Trainer(callbacks=[ScalingLawCallback(), "
                               f"{type(self).__qualname__}(trial)]).")
        self.reporter.follow(sources[0].tracker)

    def teardown(self, trainer, pl_module, stage) -> None:
        self.reporter.unfollow()


_BASES = (OptunaPruningCore, pytorch_lightning.Callback) + (() if lightning_pytorch is None else (lightning_pytorch.Callback,))
# an instance of every installed namespace's Callback, so that a Trainer of either accepts it
OptunaPruning = type("OptunaPruning", _BASES, {"__doc__": OptunaPruningCore.__doc__, "__module__": __name__})
