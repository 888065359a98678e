"""The callbacks `scaling_callback` exports: usable from either Lightning namespace.

`lightning.pytorch.Callback` and `pytorch_lightning.Callback` are different classes. Each class
here derives from both namespaces' classes (so it is an instance of both Callback bases, and a
Trainer of either namespace accepts it); without the optional `lightning` package it is the
`pytorch_lightning` one. Import `scaling_callback.lightning_callbacks` or
`scaling_callback.pytorch_lightning_callbacks` to get a single namespace.
"""
from . import pytorch_lightning_callbacks

try:
    from . import lightning_callbacks
except ImportError:  # the `lightning` package is optional
    lightning_callbacks = None

if lightning_callbacks is None:
    ScalingLawCallback = pytorch_lightning_callbacks.ScalingLawCallback
    ForecastEarlyStopping = pytorch_lightning_callbacks.ForecastEarlyStopping
else:
    class ScalingLawCallback(lightning_callbacks.ScalingLawCallback, pytorch_lightning_callbacks.ScalingLawCallback):
        __doc__ = lightning_callbacks.ScalingLawCallback.__doc__

    class ForecastEarlyStopping(lightning_callbacks.ForecastEarlyStopping,
                                pytorch_lightning_callbacks.ForecastEarlyStopping):
        __doc__ = lightning_callbacks.ForecastEarlyStopping.__doc__
