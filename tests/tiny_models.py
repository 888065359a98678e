"""A tiny GPT-style decoder and token datasets shared by the tests (CPU, seconds).

The decoder has token and position embeddings (`nn.Embedding`), `n_layer` pre-norm blocks
(`nn.TransformerEncoderLayer` with a causal mask, d_ff = 4·d_model), a final LayerNorm and an
LM head that is tied to the token embedding or not. Its exact parameter counts, worked out by
hand from the layer shapes, are in `expected_params`.

`CurveModule` is a real LightningModule whose logged validation loss follows a designed curve of
the step (`plateau_curve`, `improving_curve`): quick, deterministic runs for the forecast and
the early-stopping gate; `curve_loaders` feeds it.
"""
from __future__ import annotations

import math

import lightning.pytorch as L
import pytorch_lightning as PL
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


class TinyGPT(nn.Module):
    def __init__(self, vocab: int = 32, d_model: int = 16, n_layer: int = 2, n_head: int = 2,
                 n_ctx: int = 16, tied: bool = True):
        super().__init__()
        self.n_ctx = n_ctx
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, n_head, dim_feedforward=4 * d_model, dropout=0.0,
                                       batch_first=True, norm_first=True)
            for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)
        if tied:
            self.head.weight = self.tok.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        for block in self.blocks:
            x = block(x, src_mask=causal, is_causal=True)
        return self.head(self.ln_f(x))


def expected_params(vocab=32, d_model=16, n_layer=2, n_ctx=16, tied=True):
    """(Kaplan's non-embedding N, total) for TinyGPT, from the layer shapes.

    Per block: attention in-proj 3d² + 3d, out-proj d² + d, MLP 4d² + 4d and 4d² + d, two
    LayerNorms 4d, i.e. 12d² + 13d; final LayerNorm 2d; an untied head vocab·d (no bias).
    """
    d = d_model
    head = 0 if tied else vocab * d
    n = n_layer * (12 * d * d + 13 * d) + 2 * d + head
    return n, n + vocab * d + n_ctx * d


def _split(batch):
    """(ids, mask or None) from any batch form the tests use."""
    if isinstance(batch, dict):
        return batch["input_ids"], batch.get("attention_mask")
    if isinstance(batch, (tuple, list)):
        return batch[0], None
    return batch, None


class TinyGPTTask:
    """Next-token prediction on TinyGPT; padding (attention_mask == 0) is left out of the loss."""

    def __init__(self, lr: float = 1e-2, **gpt):
        super().__init__()
        self.lr = lr
        self.model = TinyGPT(**gpt)

    def _loss(self, batch):
        ids, mask = _split(batch)
        logits = self.model(ids)[:, :-1]
        target = ids[:, 1:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
        if mask is None:
            return loss.mean()
        weight = mask[:, 1:].reshape(-1).to(loss.dtype)
        return (loss * weight).sum() / weight.sum().clamp_min(1.0)

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch), sync_dist=True)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr)


class TinyGPTModule(TinyGPTTask, L.LightningModule):
    """TinyGPTTask for `lightning.pytorch`."""


class PLTinyGPTModule(TinyGPTTask, PL.LightningModule):
    """TinyGPTTask for `pytorch_lightning`."""


class NoParamsModule(L.LightningModule):
    """A LightningModule without parameters (accounting must refuse it)."""

    def training_step(self, batch, batch_idx):
        return None

    def configure_optimizers(self):
        return None


class PaddedTokens(Dataset):
    """Sequences of deterministic, varying lengths 3..n_ctx (item i has `length(i)` real tokens)."""

    def __init__(self, n_items: int = 12, n_ctx: int = 16, vocab: int = 32, seed: int = 0):
        self.n_ctx = n_ctx
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, vocab, (n_items, n_ctx), generator=g)

    def length(self, i: int) -> int:
        return 3 + (5 * i) % (self.n_ctx - 2)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return self.ids[i, : self.length(i)]

    def total_tokens(self) -> int:
        return sum(self.length(i) for i in range(len(self)))


def pad_collate(items):
    """Right-pad to the longest item: {"input_ids", "attention_mask"}."""
    width = max(len(x) for x in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    for row, x in enumerate(items):
        ids[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def random_tokens(n_items: int = 16, n_ctx: int = 16, vocab: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, vocab, (n_items, n_ctx), generator=torch.Generator().manual_seed(seed))


def trainer_kwargs(tmp_path, **overrides):
    """Quiet CPU Trainer settings the tests share (the logger is added by the test)."""
    kw = dict(accelerator="cpu", devices=1, enable_progress_bar=False, enable_model_summary=False,
              enable_checkpointing=False, num_sanity_val_steps=0, default_root_dir=str(tmp_path))
    kw.update(overrides)
    return kw


class CurveTask:
    """A real LightningModule whose logged validation loss follows a designed curve: fast,
    deterministic runs for the forecasting tests. It trains one weight (so the optimizer and any
    LR scheduler step as usual); `val_loss` = curve(global_step, global_rank) and, when
    `train_curve` is given, `train_loss` = train_curve(global_step).

    scheduler: None, or fn(optimizer) -> a scheduler or a Lightning lr_scheduler config dict.
    """

    def __init__(self, curve, train_curve=None, lr: float = 0.1, scheduler=None, metric: str = "val_loss"):
        super().__init__()
        self.curve, self.train_curve, self.lr, self.scheduler = curve, train_curve, lr, scheduler
        self.metric = metric
        self.weight = nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        if self.train_curve is not None:
            self.log("train_loss", float(self.train_curve(self.global_step)))
        return ((self.weight - 1.0) ** 2).sum()

    def validation_step(self, batch, batch_idx):
        self.log(self.metric, float(self.curve(self.global_step, self.global_rank)))

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        if self.scheduler is None:
            return optimizer
        scheduler = self.scheduler(optimizer)
        if not isinstance(scheduler, dict):
            scheduler = {"scheduler": scheduler, "interval": "step"}
        return {"optimizer": optimizer, "lr_scheduler": scheduler}


class CurveModule(CurveTask, L.LightningModule):
    """CurveTask for `lightning.pytorch`."""


class PLCurveModule(CurveTask, PL.LightningModule):
    """CurveTask for `pytorch_lightning`."""


def plateau_curve(step, rank=0):
    """Falls fast and is flat (within 0.002) from about step 100 on."""
    return 2.0 + 1.5 * (1 + step / 5) ** -2 + 0.002 * math.sin(1.7 * step)


def improving_curve(step, rank=0):
    """A power law still falling by over 0.03 per 50 steps at step 1000."""
    return 2.0 + 60.0 * (step + 10) ** -0.5 + 0.002 * math.sin(1.7 * step)


def curve_loaders(n_batches: int, batch_size: int = 2, n_ctx: int = 4):
    """(train, val) loaders for CurveModule: one epoch of `n_batches` token batches
    (batch_size·n_ctx tokens each), and one validation batch."""
    return (DataLoader(random_tokens(n_items=n_batches * batch_size, n_ctx=n_ctx), batch_size=batch_size),
            DataLoader(random_tokens(n_items=1, n_ctx=n_ctx, seed=1), batch_size=1))


def plain_loop(tracker, model, opt, sched, steps, every=10, start=1):
    """Train a token model in a plain loop, steps start..steps, counting each batch; observe a
    smooth, known validation curve every `every` steps. The reports."""
    reports = []
    for step in range(start, steps + 1):
        ids = torch.randint(0, 64, (4, 9))
        loss = nn.functional.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()
        tracker.count(ids[:, :-1])
        if step % every == 0:
            reports.append(tracker.observe(step, 2.0 + 3.0 * step ** -0.5, loss.item()))
    return reports
