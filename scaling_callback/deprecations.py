"""Import paths of version 0.1 that moved in 0.2 keep working for one release, with a
DeprecationWarning that names the new path (CHANGELOG.md lists them all)."""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module (under scaling_callback.) -> the module that now holds what it held
MOVED_MODULES = {
    "accounting": "tracking.accounting",
    "advice": "core.advice",
    "callback": "lightning.callback",
    "callbacks": "lightning.namespaces",
    "compute": "core.compute",
    "crossrun": "core.crossrun",
    "crossrun_cli": "cli.fit",
    "crossrun_plot": "plots",
    "curves": "io",
    "early_stopping": "lightning.early_stopping",
    "fitting": "core.robust",
    "forecasting": "core.forecast",
    "gate": "core.gate",
    "history": "core.history",
    "laws": "core.schedules",
    "planning": "core.planning",
    "runpoints": "io",
    "schedule": "tracking.schedule",
    "tbreader": "io",
}

# old top-level names (scaling_callback.X) that are no longer public -> module holding them now
MOVED_NAMES = {
    "huber_fit": "core.robust", "RobustFit": "core.robust",
    "ForecastHistory": "core.history", "Observation": "core.history", "History": "core.history",
    "PlateauGate": "core.gate", "GateCheck": "core.gate",
    "planned_end_step": "core.planning", "compress_schedule": "core.planning",
    "TokenCounter": "tracking.accounting",
    "tokens_per_param": "core.compute", "epochs_seen": "core.compute", "PF_DAY_FLOPS": "core.compute",
    "data_limit": "core.advice", "DataLimitAdvice": "core.advice", "repeated_data": "core.advice",
    "RepetitionAdvice": "core.advice", "robust_noise": "core.overfitting", "observed_overfitting": "core.overfitting",
    "OverfittingAdvice": "core.overfitting", "final_decay": "core.advice", "FinalDecay": "core.advice",
    "recommended_stop": "core.advice", "StopAdvice": "core.advice",
    "kaplan_efficient_point": "core.advice", "EfficientPoint": "core.advice",
    "chinchilla_reference": "core.advice", "ChinchillaReference": "core.advice",
    "advice_markdown": "core.advice",
    "simulate_lr_schedule": "tracking.schedule", "SimulatedSchedule": "tracking.schedule",
    "SchedulerStepping": "tracking.schedule",
    "forecast_layout": "tensorboard", "write_forecast_layout": "tensorboard",
    "write_advice_text": "tensorboard", "figure_to_array": "tensorboard", "write_figure": "tensorboard",
    "forecast_figure": "plots",
    "ChinchillaLaw": "core.crossrun", "KaplanLaw": "core.crossrun",
    "ForecastPriors": "core.forecast", "DropPrior": "core.forecast", "DEFAULT_PRIORS": "core.forecast",
}

_PACKAGE = __name__.rpartition(".")[0]


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new} in scaling-callback 0.2; the old path goes in 0.3 (see CHANGELOG.md)",
                  DeprecationWarning, stacklevel=3)


def moved_name(name: str):
    """The object an old top-level name referred to, with a DeprecationWarning (AttributeError
    when `name` was never one)."""
    module = MOVED_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")
    _warn(f"{_PACKAGE}.{name}", f"{_PACKAGE}.{module}.{name}")
    return getattr(importlib.import_module(f"{_PACKAGE}.{module}"), name)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `scaling_callback.<old>` and hands back the module it moved to."""

    def find_spec(self, fullname, path=None, target=None):
        package, _, old = fullname.rpartition(".")
        if package != _PACKAGE or old not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = f"{_PACKAGE}.{MOVED_MODULES[spec.name.rpartition('.')[2]]}"
        _warn(spec.name, new)
        module = importlib.import_module(new)
        self._spec = module.__spec__  # the import system overwrites it with the old name's spec
        return module

    def exec_module(self, module):
        module.__spec__ = self._spec  # already executed: only its own spec is put back


def install() -> None:
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
