"""`scaling-callback fit` reads the TensorBoard logs that ScalingLawCallback really writes."""
import lightning.pytorch as L
import pytest

from scaling_callback import ScalingLawCallback, read_run_points
from tiny_models import PaddedTokens, TinyGPTModule, expected_params, pad_collate, trainer_kwargs
from torch.utils.data import DataLoader


def train(logdir, convention):
    callback = ScalingLawCallback(convention=convention)
    trainer = L.Trainer(logger=L.loggers.TensorBoardLogger(str(logdir), name="tb"), callbacks=[callback],
                        **trainer_kwargs(logdir, max_epochs=2))
    loaders = [DataLoader(PaddedTokens(n_items=n), batch_size=2, collate_fn=pad_collate) for n in (8, 4)]
    trainer.fit(TinyGPTModule(), *loaders)
    return callback, float(trainer.callback_metrics["val_loss"])


@pytest.mark.parametrize("convention", ["kaplan", "total"])
def test_a_callback_log_dir_gives_its_n_tokens_and_final_loss(tmp_path, convention):
    callback, final_loss = train(tmp_path, convention)
    points = read_run_points([str(tmp_path)])
    n_kaplan, n_total = expected_params(tied=True)
    assert points.N.tolist() == [n_kaplan if convention == "kaplan" else n_total]
    assert points.D.tolist() == [callback.history[-1].tokens] == [2 * PaddedTokens(n_items=8).total_tokens()]
    assert points.loss[0] == pytest.approx(final_loss, rel=1e-6)
