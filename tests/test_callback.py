"""ScalingLawCallback on real Trainers (CPU, tiny GPT) with real TensorBoard event files."""
import math

import lightning.pytorch as L
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from scaling_callback import ScalingLawCallback, read_scalars
from scaling_callback.core.compute import PF_DAY_FLOPS
from tiny_models import (NoParamsModule, PaddedTokens, TinyGPTModule, expected_params, pad_collate,
                         random_tokens, trainer_kwargs)

TAGS = ("scaling/params_non_embedding", "scaling/tokens", "scaling/compute_flops", "scaling/compute_pf_days",
        "scaling/tokens_per_param", "scaling/epochs")


def padded_loader(n_items=12, batch_size=2):
    return DataLoader(PaddedTokens(n_items=n_items), batch_size=batch_size, collate_fn=pad_collate)


def fit(tmp_path, callbacks, train, val=None, module=None, **overrides):
    trainer = L.Trainer(logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"), callbacks=callbacks,
                        **trainer_kwargs(tmp_path, **overrides))
    trainer.fit(module or TinyGPTModule(), train, val if val is not None else padded_loader(4))
    return trainer


def test_tags_and_exact_values_with_padding_accumulation_and_variable_lengths(tmp_path):
    data = PaddedTokens(n_items=12)
    lengths = [data.length(i) for i in range(12)]
    cb = ScalingLawCallback()
    # 6 micro-batches of 2 per epoch, 2 per optimizer step, validation every 2 micro-batches
    trainer = fit(tmp_path, [cb], padded_loader(12), max_epochs=2, accumulate_grad_batches=2,
                  val_check_interval=2, num_sanity_val_steps=1)
    assert trainer.global_step == 6
    n = expected_params(tied=True)[0]
    micro_batches = [2, 4, 6, 8, 10, 12]
    tokens = [sum(lengths) * (b // 6) + sum(lengths[: 2 * (b % 6)]) for b in micro_batches]
    assert tokens[-1] == 2 * sum(lengths) and len(set(tokens)) == 6

    logged = read_scalars(str(tmp_path), TAGS)
    assert set(logged) == set(TAGS)
    for tag in TAGS:  # the sanity check logged nothing (it would be a point at step 0)
        assert logged[tag][0].tolist() == [1, 2, 3, 4, 5, 6], tag
    rel = dict(rel=1e-6)  # TensorBoard stores float32
    assert logged["scaling/params_non_embedding"][1] == pytest.approx([n] * 6, **rel)
    assert logged["scaling/tokens"][1] == pytest.approx(tokens, **rel)
    assert logged["scaling/compute_flops"][1] == pytest.approx([6 * n * d for d in tokens], **rel)
    assert logged["scaling/compute_pf_days"][1] == pytest.approx([6 * n * d / PF_DAY_FLOPS for d in tokens], **rel)
    assert logged["scaling/tokens_per_param"][1] == pytest.approx([d / n for d in tokens], **rel)
    assert logged["scaling/epochs"][1] == pytest.approx([b / 6 for b in micro_batches], **rel)

    assert cb.history.column("tokens").tolist() == tokens
    assert cb.history.column("step").tolist() == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(o.val_loss) and math.isfinite(o.train_loss) for o in cb.history)
    assert cb.history[-1].val_loss == pytest.approx(float(trainer.callback_metrics["val_loss"]))


@pytest.mark.parametrize("form", ["tensor", "tuple"])
def test_token_tensor_and_tuple_batches(tmp_path, form):
    ids = random_tokens(n_items=8, n_ctx=16)
    data = ids if form == "tensor" else torch.utils.data.TensorDataset(ids, ids)
    cb = ScalingLawCallback(tokens_per_epoch=1.28e2)  # an integral float is a whole number
    fit(tmp_path, [cb], DataLoader(data, batch_size=4), max_epochs=3)
    assert cb.history.column("tokens").tolist() == [128, 256, 384]
    assert read_scalars(str(tmp_path), ["scaling/epochs"])["scaling/epochs"][1].tolist() == [1.0, 2.0, 3.0]


def test_user_counter_context_term_and_override(tmp_path):
    cb = ScalingLawCallback(tokens_in_batch=lambda batch: batch["attention_mask"][:, 1:].sum(),
                            non_embedding_params=1000, n_layer=2, n_ctx=16, d_attn=16)
    fit(tmp_path, [cb], padded_loader(12, batch_size=6), max_epochs=1)
    tokens = sum(PaddedTokens().length(i) - 1 for i in range(12))  # predicted positions only
    assert cb.history[-1].tokens == tokens
    logged = read_scalars(str(tmp_path))
    assert logged["scaling/params_non_embedding"][1].tolist() == [1000.0]
    assert logged["scaling/compute_flops"][1][0] == pytest.approx((6 * 1000 + 6 * 2 * 16 * 16) * tokens, rel=1e-6)


def test_total_convention_and_two_instances_in_one_trainer(tmp_path):
    kaplan, total = ScalingLawCallback(), ScalingLawCallback(convention="total")
    assert kaplan.state_key != total.state_key
    trainer = fit(tmp_path, [kaplan, total], padded_loader(), max_epochs=1)
    n, n_total = expected_params(tied=True)
    logged = read_scalars(str(tmp_path))
    assert logged["scaling/params_non_embedding"][1].tolist() == [n]
    assert logged["scaling/params_total"][1].tolist() == [n_total]
    path = tmp_path / "both.ckpt"
    trainer.save_checkpoint(path)
    states = torch.load(path, weights_only=True)["callbacks"]  # plain numbers: loads with weights_only
    assert states[kaplan.state_key]["tokens"] == states[total.state_key]["tokens"] == PaddedTokens().total_tokens()
    with pytest.raises(RuntimeError, match="more than one stateful callback"):
        L.Trainer(callbacks=[ScalingLawCallback(), ScalingLawCallback()], logger=False)


@pytest.mark.parametrize("where", ["epoch boundary, variable lengths", "mid-epoch, fixed shapes"])
def test_resume_from_mid_run_checkpoint_continues_counts(tmp_path, where):
    if where.startswith("epoch"):
        train = padded_loader(12)  # 6 batches per epoch
        ckpt = L.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_top_k=-1, every_n_epochs=1,
                                           filename="{step}")
        run = dict(max_epochs=3)
        resume_at = "step=6.ckpt"
    else:
        train = DataLoader(random_tokens(n_items=12), batch_size=2)
        ckpt = L.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), save_top_k=-1, every_n_train_steps=4,
                                           filename="{step}")
        run = dict(max_steps=10, val_check_interval=3)
        resume_at = "step=4.ckpt"
    whole = ScalingLawCallback()
    fit(tmp_path / "whole", [whole, ckpt], train, enable_checkpointing=True, **run)

    resumed = ScalingLawCallback()
    trainer = L.Trainer(logger=L.loggers.TensorBoardLogger(str(tmp_path / "resumed"), name="tb"),
                        callbacks=[resumed], **trainer_kwargs(tmp_path / "resumed", **run))
    trainer.fit(TinyGPTModule(), train, padded_loader(4), ckpt_path=str(tmp_path / "ckpt" / resume_at))

    assert resumed.state_dict()["tokens"] == whole.state_dict()["tokens"]
    assert resumed.state_dict()["train_batches"] == whole.state_dict()["train_batches"]
    for field in ("step", "tokens", "flops"):
        assert resumed.history.column(field).tolist() == whole.history.column(field).tolist()
    if where.startswith("epoch"):  # same batches in the same order: the same model too
        assert resumed.history.column("val_loss") == pytest.approx(whole.history.column("val_loss"), rel=1e-5)
    a = read_scalars(str(tmp_path / "whole"), ["scaling/tokens"])["scaling/tokens"]
    b = read_scalars(str(tmp_path / "resumed"), ["scaling/tokens"])["scaling/tokens"]
    assert b[0].tolist() == a[0][-len(b[0]):].tolist() and b[1].tolist() == a[1][-len(b[0]):].tolist()


def test_resume_with_other_settings_warns(tmp_path):
    first = fit(tmp_path / "a", [ScalingLawCallback()], padded_loader(), max_epochs=1)
    first.save_checkpoint(tmp_path / "a.ckpt")
    other = ScalingLawCallback(convention="total")
    trainer = L.Trainer(callbacks=[other], logger=False, **trainer_kwargs(tmp_path / "b", max_epochs=2))
    with pytest.warns(UserWarning, match="restart from zero"):
        trainer.fit(TinyGPTModule(), padded_loader(), padded_loader(4), ckpt_path=str(tmp_path / "a.ckpt"))
    assert other.history[-1].tokens == PaddedTokens().total_tokens()  # only the resumed epoch


def test_missing_monitor_warns_once_and_training_completes(tmp_path):
    cb = ScalingLawCallback(monitor="val_perplexity")
    with pytest.warns(UserWarning, match="'val_perplexity' is not logged") as record:
        fit(tmp_path, [cb], padded_loader(), max_epochs=3)
    assert sum("val_perplexity" in str(w.message) for w in record) == 1
    assert len(cb.history) == 3 and all(math.isnan(o.val_loss) for o in cb.history)
    assert len(read_scalars(str(tmp_path), ["scaling/tokens"])["scaling/tokens"][0]) == 3


class Stream(IterableDataset):
    def __iter__(self):
        yield from random_tokens(n_items=64)


def test_dataloader_without_length_skips_epochs_with_one_warning(tmp_path):
    cb = ScalingLawCallback()
    with pytest.warns(UserWarning, match="pass tokens_per_epoch="):
        fit(tmp_path, [cb], DataLoader(Stream(), batch_size=4), max_steps=6, val_check_interval=3)
    logged = read_scalars(str(tmp_path))
    assert "scaling/epochs" not in logged
    assert logged["scaling/tokens"][1].tolist() == [3 * 64.0, 6 * 64.0]


def test_validate_outside_fit_logs_nothing(tmp_path):
    cb = ScalingLawCallback()
    trainer = L.Trainer(logger=L.loggers.TensorBoardLogger(str(tmp_path), name="tb"), callbacks=[cb],
                        **trainer_kwargs(tmp_path))
    trainer.validate(TinyGPTModule(), padded_loader(4))
    assert len(cb.history) == 0


# ---- no host-device sync in the training-batch hooks --------------------------------------------
TENSOR_READS = ("item", "cpu", "tolist", "numpy", "__float__", "__int__", "__bool__", "__index__")


def forbid_tensor_reads_in_batch_hooks(callback, monkeypatch):
    """Make every tensor value read raise while the callback's training-batch hooks run."""
    inside = [False]
    for name in TENSOR_READS:
        def guarded(self, *args, _original=getattr(torch.Tensor, name), _name=name, **kwargs):
            if inside[0]:
                raise AssertionError(f"Tensor.{_name} called inside a training-batch hook")
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, guarded)
    for hook in ("on_train_batch_start", "on_train_batch_end"):
        def wrapped(*args, _original=getattr(callback, hook), **kwargs):
            inside[0] = True
            try:
                return _original(*args, **kwargs)
            finally:
                inside[0] = False
        monkeypatch.setattr(callback, hook, wrapped)


@pytest.mark.parametrize("loader, count", [
    (lambda: padded_loader(), None),  # mask sums: a device tensor
    (lambda: DataLoader(random_tokens(), batch_size=4), None),  # shape metadata
    (lambda: padded_loader(), lambda batch: batch["attention_mask"].sum(dim=1).sum()),  # user fn
])
def test_training_batch_hooks_never_read_a_tensor(tmp_path, monkeypatch, loader, count):
    cb = ScalingLawCallback(tokens_in_batch=count)
    forbid_tensor_reads_in_batch_hooks(cb, monkeypatch)
    fit(tmp_path, [cb], loader(), max_epochs=2, accumulate_grad_batches=2)
    assert cb.history[-1].tokens > 0


def test_the_read_guard_catches_a_read(tmp_path, monkeypatch):
    class Syncing(ScalingLawCallback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            batch["attention_mask"].sum().item()

    cb = Syncing()
    forbid_tensor_reads_in_batch_hooks(cb, monkeypatch)
    with pytest.raises(AssertionError, match="Tensor.item"):
        fit(tmp_path, [cb], padded_loader(), max_epochs=1)


# ---- bad input --------------------------------------------------------------------------------
def test_uncountable_batch_fails_at_the_first_batch_naming_the_fix(tmp_path):
    floats = DataLoader(torch.randn(8, 16), batch_size=4)
    trainer = L.Trainer(callbacks=[ScalingLawCallback()], logger=False, **trainer_kwargs(tmp_path, max_steps=4))

    class FloatInput(TinyGPTModule):
        def training_step(self, batch, batch_idx):
            return self.model(batch.long().abs() % 32).mean()

    with pytest.raises(TypeError, match=r"tokens_in_batch=fn"):
        trainer.fit(FloatInput(), floats)
    assert trainer.global_step == 1 and trainer.fit_loop.epoch_loop.batch_progress.total.completed == 0


def test_model_without_parameters_is_refused(tmp_path):
    trainer = L.Trainer(callbacks=[ScalingLawCallback()], logger=False, **trainer_kwargs(tmp_path, max_steps=1))
    with pytest.raises(ValueError, match="no parameters"):
        trainer.fit(NoParamsModule(), DataLoader(random_tokens(), batch_size=4))


@pytest.mark.parametrize("settings", [
    dict(non_embedding_params=0), dict(non_embedding_params=-10), dict(non_embedding_params=1.5),
    dict(non_embedding_params=float("inf")), dict(tokens_per_epoch="1000"),
    dict(tokens_per_epoch=0), dict(convention="chinchilla"), dict(n_layer=2), dict(tokens_in_batch=3),
    dict(monitor=""),
])
def test_bad_settings_raise(settings):
    with pytest.raises(ValueError):
        ScalingLawCallback(**settings)
