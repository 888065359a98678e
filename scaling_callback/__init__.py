"""scaling-callback: live scaling-law accounting, forecasts and advice for LM training runs.

The layers (arrows point down only):
    lightning/    the Lightning callbacks, thin adapters over tracking/ (both namespaces)
    hf/           the transformers.Trainer callbacks, thin adapters over tracking/ (the hf extra)
    tracking/     torch, no framework: N and token counting, the learning-rate schedule, and
                  `ScalingTracker`, which a plain loop (or any framework's adapter) drives
    core/         numpy/scipy only: laws, the forecast, advice, the gate, cross-run laws, tags
    sweeps/       Optuna pruner and Ray Tune scheduler on the forecast (thin; the optuna / ray extras)
    io, cli/      readers of curves, event files and run points; the command line (no torch)

Public names are imported lazily (PEP 562) so that the numpy-only side (forecasts, the CLI)
never pays for importing torch or Lightning.
"""
from importlib import import_module

from . import deprecations

__version__ = "0.2.0"

# public name -> module that defines it
_PUBLIC = {
    # the callbacks
    "ScalingLawCallback": "lightning.namespaces",
    "ForecastEarlyStopping": "lightning.namespaces",
    "ScalingLawTrainerCallback": "hf.callback",  # transformers.Trainer (the hf extra)
    "ForecastEarlyStoppingCallback": "hf.early_stopping",
    # any training loop
    "ScalingTracker": "tracking.tracker",
    "TrackerSettings": "tracking.settings",  # the settings all three take
    # hyperparameter searches that prune on the forecast (the optuna / ray extras)
    "ForecastPruner": "sweeps.optuna_pruner",
    "TrialReporter": "sweeps.optuna_trial",
    "OptunaPruning": "sweeps.optuna_lightning",
    "OptunaPruningTrainerCallback": "sweeps.optuna_hf",
    "ForecastScheduler": "sweeps.ray_tune",
    "tune_result": "sweeps.ray_tune",
    # forecasting one run
    "forecast": "core.forecast",
    "Forecast": "core.forecast",
    "Status": "core.status",
    "assess": "core.assess",
    "Assessment": "core.assess",
    "ForecastRecord": "core.history",
    # the run's family (earlier runs, a sweep, a ladder) sharpens its forecast
    "Family": "core.forecast",
    "FamilyRun": "core.forecast",
    "learn_family": "core.forecast",
    "load_family": "family",
    # what if the run took another schedule (docs/whatif.md)
    "forecast_under": "core.whatif",
    "cool_down_now": "core.whatif",
    "plan_cooldown": "core.whatif",
    "compare_cooldowns": "core.whatif",
    "with_cooldown": "core.whatif",
    "resized_run": "core.whatif",
    "Cooldown": "core.whatif",
    "ScheduleMismatch": "core.whatif",
    # laws across runs
    "fit_scaling_law": "core.crossrun",
    "ScalingLawFit": "core.crossrun",
    "ComputeOptimal": "core.crossrun",
    "Estimate": "core.crossrun",
    "ScalingLawError": "core.crossrun",
    "DataConstrainedLaw": "core.crossrun",
    "inference_optimal": "core.crossrun.inference",
    "InferencePlan": "core.crossrun.inference",
    "compare_fits": "core.crossrun.compare",
    "Comparison": "core.crossrun.compare",
    # accounting
    "non_embedding_params": "tracking.accounting",
    "tokens_in_batch": "tracking.accounting",
    "data_parallel_sum": "tracking.sharded",
    "training_flops": "core.compute",
    "pf_days": "core.compute",
    # reading data
    "read_curves": "io",
    "Curve": "io",
    "read_run_points": "io",
    "RunPoints": "io",
    "read_scalars": "io",
}

__all__ = sorted(_PUBLIC) + ["__version__"]

deprecations.install()


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        return deprecations.moved_name(name)
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
