"""Tiny transformers models and data for the HF Trainer tests (built locally, no download; CPU, seconds).

- `tiny_gpt2()`: a 2-layer GPT-2 of width 32 over a 64-token vocabulary (tied LM head).
- `PaddedItems` + `collate`: sequences of 8..31 tokens, right-padded per batch, with an
  attention_mask and labels (-100 on padding), as a tokenizer's padding collator makes them.
- `CurveModel`: a model whose training loss trains one weight and whose evaluation loss follows
  a designed curve of the optimizer step (`StepToModel` tells it the step): deterministic runs
  for the forecast and the gate, the HF twin of tiny_models.CurveModule.
"""
from __future__ import annotations

import torch
import transformers
from torch import nn


def tiny_gpt2(seed: int = 0):
    torch.manual_seed(seed)
    config = transformers.GPT2Config(vocab_size=64, n_positions=32, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


def gpt2_params(n_embd=32, n_layer=2, vocab=64, n_positions=32):
    """(Kaplan's N, total) of tiny_gpt2 from its layer shapes: per block c_attn 3d²+3d, c_proj
    d²+d, c_fc 4d²+4d, mlp c_proj 4d²+d, two LayerNorms 4d (12d²+13d); final LayerNorm 2d; the
    head is tied to the token embedding."""
    d = n_embd
    n = n_layer * (12 * d * d + 13 * d) + 2 * d
    return n, n + vocab * d + n_positions * d


class PaddedItems(torch.utils.data.Dataset):
    def __init__(self, n_items: int = 200, vocab: int = 64, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.items = [torch.randint(1, vocab, (self.length(i),), generator=g) for i in range(n_items)]

    @staticmethod
    def length(i: int) -> int:
        return 8 + (7 * i) % 24

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return {"input_ids": self.items[i]}

    def tokens(self, indices) -> int:
        return sum(len(self.items[i]) for i in indices)


def collate(items):
    width = max(len(x["input_ids"]) for x in items)
    ids = torch.zeros(len(items), width, dtype=torch.long)
    mask = torch.zeros(len(items), width, dtype=torch.long)
    for row, x in enumerate(items):
        ids[row, : len(x["input_ids"])] = x["input_ids"]
        mask[row, : len(x["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}


class CurveModel(nn.Module):
    """Training loss (w - 1)²; evaluation loss curve(step) (+ 0·w, so it is a tensor of the model)."""

    def __init__(self, curve):
        super().__init__()
        self.curve = curve
        self.step = 0
        self.weight = nn.Parameter(torch.zeros(1))
        self.proj = nn.Linear(4, 4)  # so that N is not tiny

    def forward(self, input_ids=None, attention_mask=None, labels=None):
        if self.training:
            return {"loss": ((self.weight - 1.0) ** 2).sum() + 0.0 * self.proj.weight.sum()}
        return {"loss": torch.tensor(float(self.curve(self.step))) + 0.0 * self.weight.sum()}


class StepToModel(transformers.TrainerCallback):
    def on_step_end(self, args, state, control, model=None, **kwargs):
        model.step = state.global_step


def training_args(out, **overrides):
    """Quiet CPU TrainingArguments the tests share."""
    kw = dict(output_dir=str(out), per_device_train_batch_size=4, eval_strategy="steps", eval_steps=20,
              logging_steps=20, report_to=["tensorboard"], save_strategy="no", learning_rate=1e-3,
              disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, seed=0)
    kw.update(overrides)
    return transformers.TrainingArguments(**kw)
