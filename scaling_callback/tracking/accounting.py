"""Counting a model's parameters and a run's tokens (torch only, no Lightning).

- `non_embedding_params`: Kaplan et al. 2020's N (embeddings excluded) or the total count.
- `tokens_in_batch`: the default rules that read how many tokens a training batch holds.
- `TokenCounter`: a running token count that never synchronises host and device while training;
  it is read (and summed over ranks) only when someone asks for the number.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Optional, Union

import torch
from torch import nn

from .sharded import parameter_entries

CONVENTIONS = ("kaplan", "total")

TokenCount = Union[int, torch.Tensor]


def non_embedding_params(module: nn.Module, convention: str = "kaplan") -> int:
    """Parameters of the full model `module`, each tensor counted once (tied or shared weights once).

    convention="kaplan" (Kaplan et al. 2020 §2.1): N excludes the token and position embeddings,
    i.e. the weight of every `nn.Embedding`/`nn.EmbeddingBag` and any parameter tied to one: a
    tied LM head is excluded, an untied `nn.Linear` head is counted. Position embeddings kept as a
    bare `nn.Parameter` are not recognised as embeddings: pass N explicitly for such models.
    convention="total" (Hoffmann et al. 2022): every parameter once, embeddings included.
    Frozen parameters count too (the formulas assume all of them are trained).

    A sharded module counts as the full model it shards (`sharded.parameter_entries`): FSDP1
    (flat parameters, use_orig_params or not), FSDP2 and tensor-parallel DTensors (global
    shapes), DeepSpeed ZeRO-3 (`ds_numel`); embeddings and ties are recognised there too. No
    collective is needed: every rank gets the same N.

    Raises ValueError for an unknown convention, a module without parameters, a count of zero
    (every parameter is an embedding) or lazy parameters not yet initialised.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
    entries = parameter_entries(module)
    if not entries:
        raise ValueError(f"{type(module).__name__} has no parameters to count; pass non_embedding_params= "
                         "explicitly if the model is built later")
    n = sum(e.numel for e in entries if convention == "total" or not e.embedding)
    if n == 0:
        raise ValueError(f"{type(module).__name__} has only embedding parameters, so Kaplan's N is 0; "
                         "use convention='total' or pass non_embedding_params=")
    return int(n)


def _uncountable(batch, why: str) -> TypeError:
    return TypeError(
        f"cannot count the tokens in a training batch of type {type(batch).__name__}: {why}. "
        "The default rules read an integer token tensor, a dict with 'input_ids' (and "
        "'attention_mask' when padded), or a tuple/list whose first element is one of these. "
        "Pass ScalingLawCallback(tokens_in_batch=fn) with fn(batch) -> int or integer tensor.")


def tokens_in_batch(batch) -> TokenCount:
    """Tokens in one training batch by the default rules, without reading any tensor's value.

    - Tensor of integer token ids: its numel (shape metadata, a Python int).
    - Mapping with 'input_ids': attention_mask.sum() when a mask is present (padding is not a
      token; a device tensor, not read here), else input_ids.numel().
    - tuple/list: the rules applied to its first element.
    Anything else raises TypeError naming the fix (`tokens_in_batch=`).
    """
    if isinstance(batch, torch.Tensor):
        if batch.is_floating_point() or batch.is_complex() or batch.dtype == torch.bool:
            raise _uncountable(batch, f"the tensor holds {batch.dtype}, not integer token ids")
        return batch.numel()
    if isinstance(batch, Mapping):
        if "input_ids" not in batch:
            raise _uncountable(batch, f"the mapping has no 'input_ids' (keys: {sorted(map(str, batch))})")
        mask = batch.get("attention_mask")
        if mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise _uncountable(batch, f"'attention_mask' is a {type(mask).__name__}, not a tensor")
            # a float mask of 0/1 counts its non-zero entries: the count stays an integer tensor
            return (mask != 0).sum() if mask.is_floating_point() else mask.sum()
        return tokens_in_batch(batch["input_ids"])
    if isinstance(batch, (tuple, list)) and len(batch) > 0:
        return tokens_in_batch(batch[0])
    raise _uncountable(batch, "no rule applies")


def _checked(count, source: str) -> TokenCount:
    """A token count as a Python int or a 0-d int64 tensor; checks only what needs no device read.

    Only whole numbers count: a float tensor (12.7 would silently round), a bool or a complex
    tensor is refused like a Python 12.5, and so is a meta tensor (it has no value to read).
    """
    if isinstance(count, torch.Tensor):
        if count.is_floating_point() or count.is_complex() or count.dtype == torch.bool:
            raise ValueError(f"{source} returned a {count.dtype} tensor; expected an integer tensor or int "
                             "(a whole number of tokens)")
        if count.device.type == "meta":
            raise ValueError(f"{source} returned a tensor on the meta device, which holds no value to count; "
                             "return an int or a tensor on a real device")
        if count.dim() != 0:
            if count.numel() != 1:
                raise ValueError(f"{source} returned a tensor of shape {tuple(count.shape)}; expected one number")
            count = count.reshape(())
        return count.to(torch.int64) if count.dtype != torch.int64 else count
    if isinstance(count, bool) or not hasattr(count, "__index__"):
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        else:
            raise ValueError(f"{source} returned {count!r}; expected a whole number of tokens")
    count = int(count)
    if count < 0:
        raise ValueError(f"{source} returned a negative token count ({count})")
    return count


class TokenCounter:
    """A running token count kept without host-device synchronisation.

    Counts that come from shape metadata are added as Python ints; counts that are tensors (a
    mask sum) are added on their device with an asynchronous in-place add. The value is read only
    by `read`, which may sum over ranks first.
    """

    def __init__(self, count_fn: Optional[Callable[[object], TokenCount]] = None):
        self._count_fn = tokens_in_batch if count_fn is None else count_fn
        name = getattr(count_fn, "__qualname__", count_fn)
        self._source = "tokens_in_batch" if count_fn is None else f"tokens_in_batch={name!r}"
        self._host = 0
        self._device: Optional[torch.Tensor] = None

    def add_batch(self, batch) -> None:
        """Count one training (micro-)batch."""
        self.add(self._count_fn(batch))

    def add(self, count: TokenCount) -> None:
        count = _checked(count, self._source)
        if isinstance(count, int):
            self._host += count
        elif self._device is None:
            self._device = count.clone()
        else:
            if count.device != self._device.device:
                count = count.to(self._device.device, non_blocking=True)
            self._device.add_(count)

    def read(self, all_reduce_sum: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
             device: Optional[torch.device] = None) -> int:
        """The count as a Python int (the one device read). With `all_reduce_sum` (e.g. a DDP
        strategy's reduce with op "sum"), the counts of all ranks are summed first; every rank must
        then call `read` together. `device` is where the reduction runs (the strategy's root device)."""
        if all_reduce_sum is None and self._device is None:
            return self._host
        if device is None:
            device = self._device.device if self._device is not None else torch.device("cpu")
        total = torch.tensor(self._host, dtype=torch.int64, device=device)
        if self._device is not None:
            total += self._device.to(device)
        if all_reduce_sum is not None:
            total = all_reduce_sum(total)
        count = int(total.item())
        if count < 0:
            raise ValueError(f"the token count is negative ({count}): {self._source} returned negative tensors")
        return count

    def reset(self) -> None:
        self._host = 0
        self._device = None
