"""The callbacks for `import pytorch_lightning as pl` (subclasses of `pytorch_lightning.Callback`)."""
from pytorch_lightning import Callback

from .callback import ScalingLawCore
from .early_stopping import ForecastEarlyStoppingCore


class ScalingLawCallback(ScalingLawCore, Callback):
    __doc__ = ScalingLawCore.__doc__


class ForecastEarlyStopping(ForecastEarlyStoppingCore, Callback):
    __doc__ = ForecastEarlyStoppingCore.__doc__
