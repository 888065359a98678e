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

CONVENTIONS = ("kaplan", "total")
EMBEDDING_TYPES = (nn.Embedding, nn.EmbeddingBag)

TokenCount = Union[int, torch.Tensor]


def _tensor_key(t: torch.Tensor):
    """Identity of the memory a parameter uses, so tensors tied through different Parameter objects
    count once. Tensors without inspectable storage (meta, DTensor, ...) fall back to object identity."""
    try:
        storage = t.untyped_storage()
        if t.device.type != "meta" and storage.data_ptr() != 0:
            return ("storage", t.device, storage.data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
    except (RuntimeError, NotImplementedError, TypeError):
        pass
    return ("object", id(t))


def non_embedding_params(module: nn.Module, convention: str = "kaplan") -> int:
    """Parameters of `module`, each tensor counted once (tied or shared weights once).

    convention="kaplan" (Kaplan et al. 2020 §2.1): N excludes the token and position embeddings,
    i.e. the weight of every `nn.Embedding`/`nn.EmbeddingBag` and any parameter tied to one: a
    tied LM head is excluded, an untied `nn.Linear` head is counted. Position embeddings kept as a
    bare `nn.Parameter` are not recognised as embeddings: pass N explicitly for such models.
    convention="total" (Hoffmann et al. 2022): every parameter once, embeddings included.
    Frozen parameters count too (the formulas assume all of them are trained).

    Raises ValueError for an unknown convention, a module without parameters, a count of zero
    (every parameter is an embedding) or lazy parameters not yet initialised.
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
    params = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise ValueError(f"parameter {name!r} is not initialised yet (a lazy module): run one forward "
                             "pass first, or pass non_embedding_params= explicitly")
        params.setdefault(_tensor_key(p), p)
    if not params:
        raise ValueError(f"{type(module).__name__} has no parameters to count; pass non_embedding_params= "
                         "explicitly if the model is built later")
    excluded = set()
    if convention == "kaplan":
        for sub in module.modules():
            if isinstance(sub, EMBEDDING_TYPES):
                excluded.add(_tensor_key(sub.weight))
    n = sum(p.numel() for key, p in params.items() if key not in excluded)
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
            return mask.sum()
        return tokens_in_batch(batch["input_ids"])
    if isinstance(batch, (tuple, list)) and len(batch) > 0:
        return tokens_in_batch(batch[0])
    raise _uncountable(batch, "no rule applies")


def _checked(count, source: str) -> TokenCount:
    """A token count as a Python int or a 0-d int64 tensor; checks only what needs no device read."""
    if isinstance(count, torch.Tensor):
        if count.dim() != 0:
            if count.numel() != 1:
                raise ValueError(f"{source} returned a tensor of shape {tuple(count.shape)}; expected one number")
            count = count.reshape(())
        if count.dtype != torch.int64:
            count = (count.round() if count.is_floating_point() else count).to(torch.int64)
        return count
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
