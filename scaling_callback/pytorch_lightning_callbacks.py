"""The callbacks for `import pytorch_lightning as pl` (subclasses of `pytorch_lightning.Callback`)."""
from pytorch_lightning import Callback

from .callback import ScalingLawCore


class ScalingLawCallback(ScalingLawCore, Callback):
    __doc__ = ScalingLawCore.__doc__
