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
