"""Counting the Trainer's training tokens from the model's own inputs.

The Trainer passes each training micro-batch to the model as keyword arguments
(`model(**inputs)`); a forward pre-hook on the model sees them, in training mode only, once per
micro-batch (gradient accumulation included), on every process, whatever wraps the model (DDP,
FSDP, DeepSpeed call the model's forward). The count is the default rules on those inputs: the
attention mask's sum when there is one (padding is not a token), else the numel of input_ids.
Nothing is read from the device: a mask sum is added on the device.

Why not the Trainer's own count: `include_num_input_tokens_seen` ("all"; "non_padding" in
recent versions) gathers each micro-batch's count over every process and reads it to the host
(`.item()`) at every micro-batch, and it sums over all processes: under tensor parallelism the
ranks of one replica see the same batch and would be counted again. A data collator hook would
run in DataLoader worker processes and count batches prefetched but not trained on.
"""
from __future__ import annotations

from typing import Callable


class TrainingInputsHook:
    """A forward pre-hook on `model` calling `count(inputs)` for every training forward pass
    (model.training), with the keyword inputs (and a positional first argument as
    `input_ids` when the model is called positionally)."""

    def __init__(self, model, count: Callable[[object], None]):
        self._count = count
        self._handle = model.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module, args, kwargs):
        if not module.training:
            return None
        inputs = kwargs if kwargs else {}
        if args and "input_ids" not in inputs:
            inputs = {**inputs, "input_ids": args[0]}
        self._count(inputs)
        return None

    def remove(self) -> None:
        self._handle.remove()
