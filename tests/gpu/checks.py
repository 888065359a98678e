"""The checks that need a CUDA GPU (tests/gpu/test_gpu_checks.py runs each in its own process).

    python3 benchmarks/gpu_checks.py     # every check, then a table: check | result | detail

Each check returns (name, ok, detail) rows: ok None when it cannot run here (a row SKIPPED).
Run as `python3 tests/gpu/checks.py NAME`, a check prints its rows as one JSON line prefixed by
RESULT_PREFIX (a distributed process group, a CUDA error or a hang stays in that process).
Checks:

- sync_lightning: a real Lightning Trainer on the GPU with ScalingLawCallback and
  ForecastEarlyStopping, batches with an attention_mask (counted by a mask sum on the device),
  under torch.cuda.set_sync_debug_mode("error") (any host-device synchronisation raises): (1)
  around the callbacks' own training-batch hooks, (2) over whole training steps (batch start to
  batch end: forward, backward, optimizer) without the callbacks, (3) the same with them. (2)
  tells whether Lightning or torch itself synchronises in a step, so that (3) can be read.
- sync_hf: a transformers Trainer with scaling_callback.hf's callbacks on the GPU: error mode
  around the token count the callback's forward pre-hook makes inside every training step (the
  Trainer itself synchronises in its step: its NaN filter on the loss reads it), and D checked.
- fsdp_n: N of the example's GPT sharded with FSDP2 `fully_shard` (also built on the meta device
  and materialised on the GPU) and with FSDP1 (use_orig_params off and on), one process, nccl,
  equals N of the unsharded model. On one GPU a shard is the whole model: this checks the code
  paths on CUDA/nccl; the split over 2 ranks is tests/test_sharded.py (CPU, gloo).
- lightning_fsdp: N and D logged by the callback under Lightning's FSDPStrategy and
  ModelParallelStrategy (a 1×1 mesh, FSDP2 in configure_model) on one GPU equal the unsharded N
  and the tokens of the data.
- token_counter_cuda: the token count kept on the GPU (mask sums, async adds) equals the count
  on the CPU after a thousand batches.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULT_PREFIX = "GPU_CHECK_RESULT "


# ---- shared pieces (imported only inside a check's process) ------------------------------
def _gpt(d_model=64, n_layer=2, n_head=4, n_ctx=64):
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    from train_gpt import GPT  # the example's model: tied head, token and position embeddings

    return GPT(d_model, n_layer, n_head, n_ctx)


def _padded_batches(n_batches, batch=8, n_ctx=64, vocab=256, seed=0):
    """Dict batches with right padding: item i of a batch has n_ctx - (i % 4) * 8 real tokens."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n_batches):
        ids = torch.randint(0, vocab, (batch, n_ctx), generator=g)
        mask = torch.ones(batch, n_ctx, dtype=torch.long)
        for i in range(batch):
            mask[i, n_ctx - (i % 4) * 8:] = 0
        out.append({"input_ids": ids, "attention_mask": mask})
    return out


def _tokens_of(batches):
    return int(sum(int(b["attention_mask"].sum()) for b in batches))


class _BatchList:
    """A map-style dataset of ready batches (batch_size=None in the DataLoader)."""

    def __init__(self, batches):
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, i):
        return self.batches[i]


def _lightning_module(pl, gpt_kwargs=None, configure=None, log_train=True):
    import torch
    from torch.nn import functional as F

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = _gpt(**(gpt_kwargs or {}))

        def _loss(self, batch):
            ids, mask = batch["input_ids"], batch["attention_mask"]
            logits = self.model(ids)[:, :-1]
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
            weight = mask[:, 1:].reshape(-1).to(loss.dtype)
            return (loss * weight).sum() / weight.sum().clamp_min(1.0)

        def configure_model(self):
            if configure is not None:
                configure(self)

        def training_step(self, batch, batch_idx):
            loss = self._loss(batch)
            if log_train:
                self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self._loss(batch))

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=1e-3)

    return Module()


def _loaders(batches, val_batches):
    from torch.utils.data import DataLoader

    return (DataLoader(_BatchList(batches), batch_size=None, shuffle=False),
            DataLoader(_BatchList(val_batches), batch_size=None))


# ---- the checks: each returns a list of (name, ok, detail) rows --------------------------
def check_sync_lightning():
    import lightning.pytorch as pl
    import torch

    from scaling_callback import ForecastEarlyStopping, ScalingLawCallback

    class StepWindow(pl.Callback):
        """Turns error mode on at the first batch-start hook and off at the last batch-end hook."""

        def __init__(self, on):
            self.on = on

        def on_train_batch_start(self, *args):
            if self.on:
                torch.cuda.set_sync_debug_mode("error")

        def on_train_batch_end(self, *args):
            if not self.on:
                torch.cuda.set_sync_debug_mode("default")

    def hooks_in_error_mode(callback):
        """Wrap the callback's own training-batch hooks (not the step) in error mode."""
        for hook in ("on_train_batch_start", "on_train_batch_end"):
            original = getattr(callback, hook)

            def wrapped(*args, _original=original):
                torch.cuda.set_sync_debug_mode("error")
                try:
                    return _original(*args)
                finally:
                    torch.cuda.set_sync_debug_mode("default")

            setattr(callback, hook, wrapped)
        return callback

    batches, val = _padded_batches(60), _padded_batches(2, seed=1)
    rows = []

    def fit(name, callbacks, scaling=None):
        t0 = time.perf_counter()
        try:
            trainer = pl.Trainer(accelerator="gpu", devices=1, max_steps=60, val_check_interval=20, logger=False,
                                 enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                 num_sanity_val_steps=0, callbacks=callbacks)
            trainer.fit(_lightning_module(pl), *_loaders(batches, val))
        except Exception as exc:  # noqa: BLE001 - a synchronisation raises RuntimeError here: report it
            rows.append((name, False, _short(exc)))
            return
        finally:
            torch.cuda.set_sync_debug_mode("default")
        detail = f"{trainer.global_step} steps in {time.perf_counter() - t0:.1f} s"
        if scaling is not None:
            got = scaling.history.column("tokens").tolist()
            want = [_tokens_of(batches[:20]), _tokens_of(batches[:40]), _tokens_of(batches)]
            ok = got == want
            detail += f"; D at validations {got} (expected {want}); forecasts made: " \
                      f"{sum(r.ok for r in scaling.forecasts)} of {len(scaling.forecasts)}"
            rows.append((name, ok, detail))
        else:
            rows.append((name, True, detail))

    scaling = ScalingLawCallback()
    fit("sync_lightning: error mode around the callbacks' batch hooks",
        [hooks_in_error_mode(scaling), hooks_in_error_mode(ForecastEarlyStopping(patience=100))], scaling)
    fit("sync_lightning: error mode over whole steps, no callback (Lightning+torch alone)",
        [StepWindow(True), StepWindow(False)])
    scaling = ScalingLawCallback()
    fit("sync_lightning: error mode over whole steps, with the callbacks",
        [StepWindow(True), scaling, ForecastEarlyStopping(patience=100), StepWindow(False)], scaling)
    return rows


def check_sync_hf():
    import tempfile

    import torch
    import transformers

    try:
        from scaling_callback.hf import ForecastEarlyStoppingCallback, ScalingLawTrainerCallback
    except ImportError as exc:
        return [("sync_hf", None, f"scaling_callback.hf not importable here: {_short(exc)}")]

    config = transformers.GPT2Config(vocab_size=256, n_positions=64, n_embd=64, n_layer=2, n_head=4,
                                     bos_token_id=0, eos_token_id=0)
    model = transformers.GPT2LMHeadModel(config)
    batches = _padded_batches(60)
    items = [{k: v[i] for k, v in b.items()} for b in batches for i in range(8)]
    for item in items:
        item["labels"] = item["input_ids"].masked_fill(item["attention_mask"] == 0, -100)
    scaling = ScalingLawTrainerCallback()
    count_inputs = scaling._count_inputs  # what the model's forward pre-hook calls for each training micro-batch

    def count_in_error_mode(inputs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            count_inputs(inputs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    scaling._count_inputs = count_in_error_mode
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        # 60 steps of 8 items: the 480 items once each (in the Trainer's random order)
        args = transformers.TrainingArguments(output_dir=out, max_steps=60, per_device_train_batch_size=8,
                                              eval_strategy="steps", eval_steps=20, logging_steps=20,
                                              report_to=[], save_strategy="no", learning_rate=1e-3,
                                              lr_scheduler_type="cosine", warmup_steps=5, disable_tqdm=True)
        try:
            trainer = transformers.Trainer(model=model, args=args, train_dataset=items, eval_dataset=items[:16],
                                           callbacks=[scaling, ForecastEarlyStoppingCallback(patience=100)])
            trainer.train()
        except Exception as exc:  # noqa: BLE001
            return [("sync_hf: error mode around the token count in the model's forward pre-hook", False, _short(exc))]
        finally:
            torch.cuda.set_sync_debug_mode("default")
    got = scaling.history.column("tokens").tolist()
    want = _tokens_of(batches)
    ok = len(got) == 3 and got[-1] == want and got == sorted(got)
    detail = (f"transformers {transformers.__version__}; {trainer.state.global_step} steps in "
              f"{time.perf_counter() - t0:.1f} s; D at evaluations {got} (at the end expected {want}: every item "
              f"once); forecasts made: {sum(r.ok for r in scaling.forecasts)} of {len(scaling.forecasts)}")
    return [("sync_hf: error mode around the token count in the model's forward pre-hook", ok, detail)]


def _init_single_process_group():
    import torch
    import torch.distributed as dist

    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", "29517")
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", rank=0, world_size=1)


def check_fsdp_n():
    import torch
    import torch.distributed as dist

    from scaling_callback.tracking.accounting import non_embedding_params

    def counts(model):
        return non_embedding_params(model), non_embedding_params(model, "total")

    torch.manual_seed(0)
    want = counts(_gpt())
    rows = []
    _init_single_process_group()
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard

        def fsdp2(meta):
            mesh = init_device_mesh("cuda", (1,), mesh_dim_names=("dp_shard",))
            if meta:
                with torch.device("meta"):
                    model = _gpt()
            else:
                model = _gpt().cuda()
            for block in model.blocks:
                fully_shard(block, mesh=mesh)
            fully_shard(model, mesh=mesh)
            if meta:
                model.to_empty(device="cuda")
            model(torch.randint(0, 256, (2, 16), device="cuda")).float().mean().backward()
            return model

        def fsdp1(use_orig_params):
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            sys.path.insert(0, os.path.join(ROOT, "examples"))
            from train_gpt import Block

            model = FSDP(_gpt(), device_id=torch.cuda.current_device(), use_orig_params=use_orig_params,
                         auto_wrap_policy=ModuleWrapPolicy({Block}))
            model(torch.randint(0, 256, (2, 16), device="cuda")).float().mean().backward()
            return model

        for name, build in (("FSDP2 fully_shard", lambda: fsdp2(False)),
                            ("FSDP2 fully_shard, built on meta", lambda: fsdp2(True)),
                            ("FSDP1 use_orig_params=False", lambda: fsdp1(False)),
                            ("FSDP1 use_orig_params=True", lambda: fsdp1(True))):
            try:
                got = counts(build())
                rows.append((f"fsdp_n: {name}", got == want, f"N (kaplan, total) = {got}, unsharded {want}"))
            except Exception as exc:  # noqa: BLE001
                rows.append((f"fsdp_n: {name}", False, _short(exc)))
    finally:
        dist.destroy_process_group()
    return rows


def check_lightning_fsdp():
    import lightning.pytorch as pl
    import torch

    from scaling_callback import ScalingLawCallback
    from scaling_callback.tracking.accounting import non_embedding_params

    want_n = non_embedding_params(_gpt())
    batches, val = _padded_batches(20), _padded_batches(2, seed=1)
    rows = []

    def shard(module):
        from torch.distributed.fsdp import fully_shard

        fully_shard(module.model, mesh=module.device_mesh["data_parallel"])

    from lightning.pytorch.strategies import FSDPStrategy, ModelParallelStrategy
    for name, strategy, configure in (("Lightning FSDPStrategy (FSDP1)", lambda: FSDPStrategy(), None),
                                      ("Lightning ModelParallelStrategy 1x1 + fully_shard",
                                       lambda: ModelParallelStrategy(), shard)):
        scaling = ScalingLawCallback(forecast=False)
        try:
            trainer = pl.Trainer(accelerator="gpu", devices=1, strategy=strategy(), max_steps=20,
                                 val_check_interval=10, logger=False, enable_checkpointing=False,
                                 enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                                 callbacks=[scaling])
            trainer.fit(_lightning_module(pl, configure=configure), *_loaders(batches, val))
        except Exception as exc:  # noqa: BLE001
            rows.append((f"lightning_fsdp: {name}", False, _short(exc)))
            continue
        finally:
            if torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()
        got = scaling.history.column("tokens").tolist()
        want = [_tokens_of(batches[:10]), _tokens_of(batches)]
        ok = scaling.n_params == want_n and got == want
        rows.append((f"lightning_fsdp: {name}", ok, f"N {scaling.n_params} (unsharded {want_n}); D {got} "
                     f"(expected {want})"))
    return rows


def check_token_counter_cuda():
    import torch

    from scaling_callback.tracking.accounting import TokenCounter

    batches = _padded_batches(1000, batch=4, n_ctx=32)
    on_gpu = [{k: v.cuda() for k, v in b.items()} for b in batches]  # a copy from the host synchronises: before
    torch.cuda.synchronize()
    counter = TokenCounter()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for b in on_gpu:
            counter.add_batch(b)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    got, want = counter.read(), _tokens_of(batches)
    return [("token_counter_cuda: 1000 mask sums added on the GPU, no sync", got == want, f"D {got}, CPU count {want}")]


CHECKS = {"sync_lightning": check_sync_lightning, "sync_hf": check_sync_hf, "fsdp_n": check_fsdp_n,
          "lightning_fsdp": check_lightning_fsdp, "token_counter_cuda": check_token_counter_cuda}


def _short(exc, limit=300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def _run_one(name: str) -> None:
    """In the check's own process: print its rows as one JSON line."""
    import warnings

    warnings.filterwarnings("ignore")
    try:
        rows = CHECKS[name]()
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        rows = [(name, False, _short(exc))]
    print(RESULT_PREFIX + json.dumps(rows), flush=True)


if __name__ == "__main__":
    _run_one(sys.argv[1])
