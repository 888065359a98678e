"""The callbacks for `import lightning.pytorch as pl` (subclasses of `lightning.pytorch.Callback`)."""
from lightning.pytorch import Callback

from .callback import ScalingLawCore


class ScalingLawCallback(ScalingLawCore, Callback):
    __doc__ = ScalingLawCore.__doc__
