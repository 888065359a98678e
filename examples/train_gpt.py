"""Train a small GPT-style decoder, byte-level, on the Python standard library's source (or your
own text) with ScalingLawCallback (the run's scale N, D, C; a forecast of the final validation
loss with an 80% interval; advice) and ForecastEarlyStopping, all shown in TensorBoard. At the
end the callback prints the forecasts made by 25%, 50% and 75% of the run next to the loss reached.

No download: by default the text is the `.py` files of the standard library of the Python that
runs this. The defaults (0.34M non-embedding parameters, 800 steps of 16 x 64 bytes, a
validation every 50 steps, linear warm-up then cosine decay) finish in a few minutes on 2 CPU
cores:

    python3 examples/train_gpt.py                               # defaults
    python3 examples/train_gpt.py --d-model 256 --n-layer 6 --n-head 8 --n-ctx 256 \
        --max-steps 5000 --batch-size 32 --accelerator gpu      # bigger, on a GPU
    python3 examples/train_gpt.py --devices 2 --strategy ddp    # DDP, 2 CPU processes
    python3 examples/train_gpt.py --text notes/*.md             # your own text files
    tensorboard --logdir runs/train_gpt                         # then the Custom Scalars tab
"""
from __future__ import annotations

import argparse
import os
import sysconfig
import time
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from scaling_callback import ForecastEarlyStopping, ScalingLawCallback, non_embedding_params, pf_days
from scaling_callback.core.compute import epochs_seen, tokens_per_param

VOCAB = 256  # bytes


def read_files(paths: Sequence[Path], max_bytes: int) -> np.ndarray:
    """Up to `max_bytes` of the files' bytes, in the given order, joined by newlines, as uint8."""
    chunks, size = [], 0
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.append(data)
        size += len(data) + 1
        if size >= max_bytes:
            break
    return np.frombuffer(b"\n".join(chunks)[:max_bytes], dtype=np.uint8)


def stdlib_files(seed: int) -> List[Path]:
    """The standard library's .py files (site-packages excluded), in a shuffled order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("site-packages", "dist-packages", "__pycache__"))
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    if not files:
        raise SystemExit(f"no .py files found under {root}")
    np.random.default_rng(seed).shuffle(files)
    return files


class Windows(Dataset):
    """`n_samples` windows of n_ctx + 1 bytes at fixed random offsets: (input, next-byte target)."""

    def __init__(self, data: np.ndarray, n_ctx: int, n_samples: int, seed: int):
        self.data = torch.from_numpy(data.astype(np.int64))
        self.n_ctx = n_ctx
        self.starts = np.random.default_rng(seed).integers(0, len(data) - n_ctx - 1, size=n_samples)

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        window = self.data[self.starts[i]: self.starts[i] + self.n_ctx + 1]
        return window[:-1], window[1:]


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_head, d // self.n_head).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d_model: int, n_head: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Decoder-only transformer: token + position embeddings, pre-norm blocks, LM head tied to the
    token embedding (so Kaplan's N excludes it)."""

    def __init__(self, d_model: int, n_layer: int, n_head: int, n_ctx: int):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.Sequential(*(Block(d_model, n_head) for _ in range(n_layer)))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        return self.head(self.ln_f(self.blocks(x)))


class GPTModule(pl.LightningModule):
    def __init__(self, d_model: int, n_layer: int, n_head: int, n_ctx: int, lr: float, min_lr: float,
                 warmup: int, max_steps: int, weight_decay: float):
        super().__init__()
        self.save_hyperparameters()
        self.model = GPT(d_model, n_layer, n_head, n_ctx)

    def _loss(self, batch):
        x, y = batch
        return F.cross_entropy(self.model(x).reshape(-1, VOCAB), y.reshape(-1))

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), sync_dist=True)

    def configure_optimizers(self):
        """AdamW; linear warm-up from lr/warmup to lr, then cosine decay to min_lr at max_steps."""
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=hp.max_steps - hp.warmup,
                                                            eta_min=hp.min_lr)
        scheduler = cosine
        if hp.warmup > 0:
            warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / hp.warmup, total_iters=hp.warmup)
            scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[hp.warmup])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    model = p.add_argument_group("model")
    model.add_argument("--d-model", type=int, default=96, help="width")
    model.add_argument("--n-layer", type=int, default=3, help="transformer blocks")
    model.add_argument("--n-head", type=int, default=4, help="attention heads (must divide --d-model)")
    model.add_argument("--n-ctx", type=int, default=64, help="context length in bytes")
    train = p.add_argument_group("training")
    train.add_argument("--max-steps", type=int, default=800, help="optimizer steps: the planned end of the run")
    train.add_argument("--batch-size", type=int, default=16, help="sequences per step and device")
    train.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    train.add_argument("--min-lr", type=float, default=3e-4, help="learning rate at the end of the cosine decay")
    train.add_argument("--warmup", type=int, default=50, help="linear warm-up steps (0: none)")
    train.add_argument("--weight-decay", type=float, default=0.1)
    train.add_argument("--val-every", type=int, default=50, help="validate every this many steps")
    train.add_argument("--val-batches", type=int, default=16, help="batches per validation")
    train.add_argument("--seed", type=int, default=0)
    stop = p.add_argument_group("predictive early stopping (ForecastEarlyStopping)")
    stop.add_argument("--stop-min-delta", type=float, default=0.01,
                      help="stop when even the forecast's optimistic end gains less than this (nats/byte) by --max-steps")
    stop.add_argument("--stop-patience", type=int, default=3, help="... at this many validations in a row")
    stop.add_argument("--no-early-stop", action="store_true", help="train to --max-steps whatever the forecast says")
    data = p.add_argument_group("data")
    data.add_argument("--text", nargs="+", type=Path, metavar="FILE",
                      help="train on these text files instead of the standard library's source")
    data.add_argument("--corpus-mb", type=float, default=8.0, help="megabytes of text to use at most")
    hardware = p.add_argument_group("hardware")
    hardware.add_argument("--accelerator", default="cpu", help="cpu, gpu, mps, auto (Lightning's names)")
    hardware.add_argument("--devices", default="1", help="devices: a number, a list like 0,1, or auto")
    hardware.add_argument("--strategy", default="auto",
                          help="auto, ddp, fsdp, deepspeed, ... (Lightning's names); several --devices use ddp "
                               "under auto")
    hardware.add_argument("--precision", default="32-true", help="e.g. bf16-mixed on a recent GPU")
    hardware.add_argument("--threads", type=int, default=1,
                          help="CPU threads for torch per process (0: torch's default). 1 suits the small default "
                               "model: on a 2-core machine busy with other work, 2 threads made a step 5x slower")
    p.add_argument("--logdir", default="runs/train_gpt", help="TensorBoard log directory")
    args = p.parse_args(argv)
    for name in ("d_model", "n_layer", "n_head", "n_ctx", "max_steps", "batch_size", "val_every", "val_batches",
                 "stop_min_delta", "stop_patience"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.d_model % args.n_head:
        p.error("--d-model must be divisible by --n-head")
    if not 0 <= args.warmup < args.max_steps:
        p.error("--warmup must be at least 0 and less than --max-steps")
    if not 0 <= args.min_lr <= args.lr:
        p.error("--min-lr must be between 0 and --lr")
    if any(word in args.strategy for word in ("spawn", "fork", "notebook")):
        p.error("--strategy: use ddp (or auto), whose rank 0 is this process; the summary at the end reads the "
                "callback here, which a spawned or forked rank 0 never updates")
    for path in args.text or ():
        if not path.is_file():
            p.error(f"--text: {path} is not a file")
    return args


def load_text(args) -> Tuple[np.ndarray, str]:
    """The corpus as bytes and where it comes from."""
    max_bytes = int(args.corpus_mb * 2**20)
    if args.text:
        return read_files(args.text, max_bytes), f"{len(args.text)} file(s) given with --text"
    return read_files(stdlib_files(args.seed), max_bytes), f"standard-library source from {sysconfig.get_paths()['stdlib']}"


def main(argv=None):
    args = parse_args(argv)
    pl.seed_everything(args.seed, verbose=False)
    if args.threads:
        torch.set_num_threads(args.threads)
    text, source = load_text(args)
    split = int(0.95 * len(text))
    train_text, val_text = text[:split], text[split:]
    if len(val_text) < args.n_ctx + 2:
        raise SystemExit(f"the text has {len(text):,} bytes: too little for a 5% validation split of windows "
                         f"of {args.n_ctx + 1} bytes; give more text or a smaller --n-ctx")

    module = GPTModule(args.d_model, args.n_layer, args.n_head, args.n_ctx, args.lr, args.min_lr, args.warmup,
                       args.max_steps, args.weight_decay)
    scaling = ScalingLawCallback(
        non_embedding_params=non_embedding_params(module),  # counted before FSDP/DeepSpeed could shard it
        n_layer=args.n_layer, n_ctx=args.n_ctx, d_attn=args.d_model,  # adds Kaplan's context term to C
        tokens_per_epoch=len(train_text),  # unique training tokens: epochs = D / corpus size
    )
    gate = ForecastEarlyStopping(min_delta=args.stop_min_delta, patience=args.stop_patience)
    callbacks = [scaling] if args.no_early_stop else [scaling, gate]
    logger = pl.loggers.TensorBoardLogger(args.logdir, name="", default_hp_metric=False)
    devices = args.devices if args.devices == "auto" or "," in args.devices else int(args.devices)
    trainer = pl.Trainer(max_steps=args.max_steps, val_check_interval=args.val_every,
                         limit_val_batches=args.val_batches, callbacks=callbacks, logger=logger,
                         accelerator=args.accelerator, devices=devices, strategy=args.strategy,
                         precision=args.precision, enable_checkpointing=False, log_every_n_steps=10,
                         enable_model_summary=False)
    # one epoch of exactly max_steps batches on every rank (Lightning shards it with a DistributedSampler)
    samples = args.max_steps * args.batch_size * trainer.world_size
    train = DataLoader(Windows(train_text, args.n_ctx, samples, args.seed), batch_size=args.batch_size)
    val = DataLoader(Windows(val_text, args.n_ctx, args.val_batches * args.batch_size * trainer.world_size,
                             args.seed + 1), batch_size=args.batch_size)
    if trainer.is_global_zero:
        print(f"corpus: {len(text) / 2**20:.2f} MiB of {source}")
    start = time.perf_counter()
    trainer.fit(module, train, val)
    if not trainer.is_global_zero:
        return

    last = scaling.history[-1]  # N, D, C and the forecasts beside the loss reached: the callback's summary above
    print(f"\ntrained {trainer.global_step} steps in {time.perf_counter() - start:.0f} s; at the last validation "
          f"(step {last.step}):")
    print(f"  compute C                   {pf_days(last.flops):.3e} PF-days")
    print(f"  tokens per parameter        {tokens_per_param(last.tokens, scaling.n_params):.1f}")
    print(f"  epochs of the corpus        {epochs_seen(last.tokens, len(train_text)):.2f}")
    print(f"  validation loss             {last.val_loss:.4f} nats/byte")
    print(f"\nTensorBoard logs: {os.path.abspath(logger.log_dir)}")
    print(f"view them with:   tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
