"""scaling-callback: live scaling-law accounting, forecasts and advice for LM training runs.

Public names are imported lazily (PEP 562) so that the numpy-only side (forecasts, the CLI)
never pays for importing torch or Lightning.
"""
from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "huber_fit": "fitting",
    "RobustFit": "fitting",
    "read_scalars": "tbreader",
    "ScalingLawCallback": "callbacks",
    "ForecastEarlyStopping": "callbacks",
    "ForecastRecord": "history",
    "ForecastHistory": "history",
    "PlateauGate": "gate",
    "GateCheck": "gate",
    "planned_end_step": "planning",
    "compress_schedule": "planning",
    "assess": "tracking",
    "Assessment": "tracking",
    "non_embedding_params": "accounting",
    "tokens_in_batch": "accounting",
    "TokenCounter": "accounting",
    "training_flops": "compute",
    "pf_days": "compute",
    "tokens_per_param": "compute",
    "epochs_seen": "compute",
    "PF_DAY_FLOPS": "compute",
    "Observation": "history",
    "History": "history",
    "data_limit": "advice",
    "DataLimitAdvice": "advice",
    "repeated_data": "advice",
    "RepetitionAdvice": "advice",
    "robust_noise": "advice",
    "observed_overfitting": "advice",
    "OverfittingAdvice": "advice",
    "final_decay": "advice",
    "FinalDecay": "advice",
    "recommended_stop": "advice",
    "StopAdvice": "advice",
    "kaplan_efficient_point": "advice",
    "EfficientPoint": "advice",
    "chinchilla_reference": "advice",
    "ChinchillaReference": "advice",
    "advice_markdown": "advice",
    "simulate_lr_schedule": "schedule",
    "SimulatedSchedule": "schedule",
    "SchedulerStepping": "schedule",
    "forecast_layout": "tensorboard",
    "write_forecast_layout": "tensorboard",
    "write_advice_text": "tensorboard",
    "forecast_figure": "tensorboard",
    "figure_to_array": "tensorboard",
    "write_figure": "tensorboard",
    "fit_scaling_law": "crossrun",
    "ScalingLawFit": "crossrun",
    "ChinchillaLaw": "crossrun",
    "KaplanLaw": "crossrun",
    "ScalingLawError": "crossrun",
    "DataConstrainedLaw": "repetition",
    "effective_tokens": "repetition",
    "inference_optimal": "inference",
    "compare_fits": "compare",
    "Comparison": "compare",
    "InferencePlan": "inference",
    "read_run_points": "runpoints",
    "forecast": "forecasting",
    "Forecast": "forecasting",
    "ForecastPriors": "forecasting",
    "DropPrior": "forecasting",
    "DEFAULT_PRIORS": "forecasting",
    "Curve": "curves",
    "read_curves": "curves",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'scaling_callback' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
