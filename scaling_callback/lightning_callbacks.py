"""The callbacks for `import lightning.pytorch as pl` (subclasses of `lightning.pytorch.Callback`)."""
from lightning.pytorch import Callback

from .callback import ScalingLawCore
from .early_stopping import ForecastEarlyStoppingCore


class ScalingLawCallback(ScalingLawCore, Callback):
    __doc__ = ScalingLawCore.__doc__


class ForecastEarlyStopping(ForecastEarlyStoppingCore, Callback):
    __doc__ = ForecastEarlyStoppingCore.__doc__
