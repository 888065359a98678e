"""The callbacks over each Lightning namespace's `Callback` base class.

`lightning.pytorch.Callback` and `pytorch_lightning.Callback` are different classes and a Trainer
rejects a callback of the other namespace. The cores (`callback.ScalingLawCore`,
`early_stopping.ForecastEarlyStoppingCore`) import neither; here each is put over:
- `pytorch_lightning.Callback` (always installed: a dependency),
- `lightning.pytorch.Callback` (when the optional `lightning` package is installed),
- both at once: `ScalingLawCallback` / `ForecastEarlyStopping`, the classes users import, are an
  instance of every installed namespace's Callback, so a Trainer of either accepts them.
"""
from __future__ import annotations

import pytorch_lightning

from .callback import ScalingLawCore
from .early_stopping import ForecastEarlyStoppingCore

try:  # the `lightning` package is optional
    import lightning.pytorch as lightning_pytorch
except ImportError:
    lightning_pytorch = None


_NAMES = {ScalingLawCore: "ScalingLawCallback", ForecastEarlyStoppingCore: "ForecastEarlyStopping"}


def _named(name: str, bases: tuple, doc: str) -> type:
    # every class here has the same name, so a checkpoint's callback state (keyed by it) moves
    # between namespaces
    return type(name, bases, {"__doc__": doc, "__module__": __name__})


def _over(core: type, namespace) -> type:
    """`core` put over the Callback class of one namespace module."""
    return _named(_NAMES[core], (core, namespace.Callback), core.__doc__)


class PytorchLightning:
    """The callbacks for `import pytorch_lightning as pl` only."""

    ScalingLawCallback = _over(ScalingLawCore, pytorch_lightning)
    ForecastEarlyStopping = _over(ForecastEarlyStoppingCore, pytorch_lightning)


if lightning_pytorch is None:
    ScalingLawCallback = PytorchLightning.ScalingLawCallback
    ForecastEarlyStopping = PytorchLightning.ForecastEarlyStopping
else:
    class Lightning:
        """The callbacks for `import lightning.pytorch as pl` only."""

        ScalingLawCallback = _over(ScalingLawCore, lightning_pytorch)
        ForecastEarlyStopping = _over(ForecastEarlyStoppingCore, lightning_pytorch)

    # a subclass of both: an instance of both namespaces' Callback
    ScalingLawCallback = _named("ScalingLawCallback", (Lightning.ScalingLawCallback, PytorchLightning.ScalingLawCallback),
                                ScalingLawCore.__doc__)
    ForecastEarlyStopping = _named("ForecastEarlyStopping", (Lightning.ForecastEarlyStopping,
                                                             PytorchLightning.ForecastEarlyStopping),
                                   ForecastEarlyStoppingCore.__doc__)
