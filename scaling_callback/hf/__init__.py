"""The scaling callback for the Hugging Face `transformers.Trainer` (needs the `hf` extra:
transformers and accelerate): `ScalingLawTrainerCallback` logs the run's scale, forecasts and
advice at every evaluation; `ForecastEarlyStoppingCallback` stops the run on a forecast plateau."""
from .callback import ScalingLawTrainerCallback
from .early_stopping import ForecastEarlyStoppingCallback

__all__ = ["ScalingLawTrainerCallback", "ForecastEarlyStoppingCallback"]
