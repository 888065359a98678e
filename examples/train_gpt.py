"""Train a small GPT-style decoder byte-level on the Python standard library's source, with
ScalingLawCallback logging the run's scale (N, D, C, PF-days, tokens per parameter, epochs) to
TensorBoard.

No download: the text is the `.py` files of the standard library of the Python running this.
The defaults finish in about a minute or two on 2 CPU cores:

    python3 examples/train_gpt.py                      # defaults
    python3 examples/train_gpt.py --max-steps 2000 --d-model 256 --n-layer 6   # bigger
    tensorboard --logdir runs/train_gpt                # then open the "scaling" charts
"""
from __future__ import annotations

import argparse
import math
import os
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from scaling_callback import ScalingLawCallback, epochs_seen, pf_days, tokens_per_param

VOCAB = 256  # bytes


def stdlib_text(max_bytes: int, seed: int) -> np.ndarray:
    """Up to `max_bytes` of the standard library's .py sources (site-packages excluded), as uint8."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("site-packages", "dist-packages", "__pycache__"))
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    if not files:
        raise SystemExit(f"no .py files found under {root}")
    np.random.default_rng(seed).shuffle(files)
    chunks, size = [], 0
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        chunks.append(data)
        size += len(data)
        if size >= max_bytes:
            break
    return np.frombuffer(b"\n".join(chunks)[:max_bytes], dtype=np.uint8)


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
    def __init__(self, d_model: int, n_layer: int, n_head: int, n_ctx: int, lr: float, warmup: int,
                 max_steps: int):
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
        hp = self.hparams
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=0.1)

        def warmup_cosine(step):  # linear warm-up, then cosine decay to 10% of the peak
            if step < hp.warmup:
                return (step + 1) / hp.warmup
            progress = min(1.0, (step - hp.warmup) / max(1, hp.max_steps - hp.warmup))
            return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--d-model", type=int, default=96)
    p.add_argument("--n-layer", type=int, default=3)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-ctx", type=int, default=64, help="context length in bytes")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-steps", type=int, default=600)
    p.add_argument("--val-every", type=int, default=50, help="validate every this many steps")
    p.add_argument("--val-batches", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=50, help="warm-up steps")
    p.add_argument("--corpus-mb", type=float, default=8.0, help="megabytes of standard-library source to use")
    p.add_argument("--logdir", default="runs/train_gpt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (0: torch's default). 1 suits the small default model: on a "
                        "2-core machine busy with other work, 2 threads made a step 5x slower")
    args = p.parse_args(argv)
    if args.d_model % args.n_head:
        p.error("--d-model must be divisible by --n-head")
    return args


def main(argv=None):
    args = parse_args(argv)
    pl.seed_everything(args.seed, verbose=False)
    if args.threads:
        torch.set_num_threads(args.threads)
    text = stdlib_text(int(args.corpus_mb * 2**20), args.seed)
    split = int(0.95 * len(text))
    train_text, val_text = text[:split], text[split:]
    samples = args.max_steps * args.batch_size
    train = DataLoader(Windows(train_text, args.n_ctx, samples, args.seed), batch_size=args.batch_size,
                       shuffle=False)
    val = DataLoader(Windows(val_text, args.n_ctx, args.val_batches * args.batch_size, args.seed + 1),
                     batch_size=args.batch_size)

    scaling = ScalingLawCallback(
        n_layer=args.n_layer, n_ctx=args.n_ctx, d_attn=args.d_model,  # adds Kaplan's context term to C
        tokens_per_epoch=len(train_text),  # unique training tokens: epochs = D / corpus size
    )
    logger = pl.loggers.TensorBoardLogger(args.logdir, name="", default_hp_metric=False)
    trainer = pl.Trainer(max_steps=args.max_steps, val_check_interval=args.val_every,
                         limit_val_batches=args.val_batches, callbacks=[scaling], logger=logger,
                         accelerator="cpu", devices=1, enable_checkpointing=False, log_every_n_steps=10,
                         enable_model_summary=False)
    module = GPTModule(args.d_model, args.n_layer, args.n_head, args.n_ctx, args.lr, args.warmup, args.max_steps)
    print(f"corpus: {len(text) / 2**20:.1f} MiB of standard-library source from {sysconfig.get_paths()['stdlib']}")
    start = time.perf_counter()
    trainer.fit(module, train, val)

    last = scaling.history[-1]
    print(f"\ntrained {trainer.global_step} steps in {time.perf_counter() - start:.0f} s; at the last validation:")
    print(f"  non-embedding parameters N  {scaling.n_params:,}")
    print(f"  training tokens D           {last.tokens:,}")
    print(f"  compute C                   {last.flops:.3e} FLOPs = {pf_days(last.flops):.3e} PF-days")
    print(f"  tokens per parameter        {tokens_per_param(last.tokens, scaling.n_params):.1f}")
    print(f"  epochs of the corpus        {epochs_seen(last.tokens, len(train_text)):.2f}")
    print(f"  validation loss             {last.val_loss:.4f} nats/byte")
    print(f"\nTensorBoard logs: {os.path.abspath(logger.log_dir)}")
    print(f"view them with:   tensorboard --logdir {args.logdir}")


if __name__ == "__main__":
    main()
