"""The callback works whether the user imports `lightning.pytorch` or `pytorch_lightning`."""
import os
import subprocess
import sys

import lightning.pytorch as L
import pytest
import pytorch_lightning as PL

import scaling_callback
from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.lightning.namespaces import Lightning as lightning_callbacks
from scaling_callback.lightning.namespaces import PytorchLightning as pytorch_lightning_callbacks
from tiny_models import PLTinyGPTModule, PaddedTokens, TinyGPTModule, pad_collate, trainer_kwargs
from torch.utils.data import DataLoader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMESPACES = {"lightning.pytorch": (L, TinyGPTModule), "pytorch_lightning": (PL, PLTinyGPTModule)}


def loader(n_items):
    return DataLoader(PaddedTokens(n_items=n_items), batch_size=4, collate_fn=pad_collate)


def run(pl, module_class, callbacks, tmp_path):
    trainer = pl.Trainer(logger=pl.loggers.TensorBoardLogger(str(tmp_path), name="tb"), callbacks=callbacks,
                         **trainer_kwargs(tmp_path, max_epochs=2))
    trainer.fit(module_class(), loader(8), loader(4))
    return read_scalars(str(tmp_path), ["scaling/tokens"])["scaling/tokens"][1].tolist()


@pytest.mark.parametrize("name", ["ScalingLawCallback", "ForecastEarlyStopping"])
def test_default_class_is_a_callback_of_both_namespaces(name):
    cls = getattr(scaling_callback, name)
    cb = cls()
    assert isinstance(cb, L.Callback) and isinstance(cb, PL.Callback)
    assert issubclass(cls, getattr(lightning_callbacks, name))
    assert issubclass(cls, getattr(pytorch_lightning_callbacks, name))
    single = [getattr(m, name)() for m in (lightning_callbacks, pytorch_lightning_callbacks)]
    assert not isinstance(single[0], PL.Callback) and not isinstance(single[1], L.Callback)


@pytest.mark.parametrize("namespace", sorted(NAMESPACES))
@pytest.mark.parametrize("as_list", [True, False])
def test_default_class_in_either_trainer(tmp_path, namespace, as_list):
    pl, module_class = NAMESPACES[namespace]
    cb = ScalingLawCallback()
    total = PaddedTokens(n_items=8).total_tokens()
    assert run(pl, module_class, [cb] if as_list else cb, tmp_path) == [total, 2 * total]


@pytest.mark.parametrize("namespace, module", [("lightning.pytorch", lightning_callbacks),
                                               ("pytorch_lightning", pytorch_lightning_callbacks)])
def test_single_namespace_classes(tmp_path, namespace, module):
    pl, module_class = NAMESPACES[namespace]
    cb = module.ScalingLawCallback()
    assert isinstance(cb, pl.Callback)
    assert not isinstance(cb, (PL if pl is L else L).Callback)
    assert cb.state_key == ScalingLawCallback().state_key  # checkpoints move between namespaces
    total = PaddedTokens(n_items=8).total_tokens()
    assert run(pl, module_class, cb, tmp_path) == [total, 2 * total]


def test_without_the_lightning_package_the_default_is_the_pytorch_lightning_class():
    code = ("import sys; sys.modules['lightning'] = None  # as if `lightning` were not installed\n"
            "import pytorch_lightning as pl\n"
            "from scaling_callback import ScalingLawCallback\n"
            "from scaling_callback.lightning.namespaces import PytorchLightning\n"
            "assert ScalingLawCallback is PytorchLightning.ScalingLawCallback\n"
            "assert isinstance(ScalingLawCallback(), pl.Callback)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
