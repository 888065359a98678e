"""The full model's parameters and the data-parallel share of tokens under sharded and
model-parallel training (torch only; every distributed import is lazy).

N: what a rank holds of a sharded model is a shard, so counting `p.numel()` gives the shard
sizes (Lightning's ModelSummary shows them, or 0). Each engine keeps the full size elsewhere:

- FSDP1 (`FullyShardedDataParallel`): each wrapped unit flattens its original parameters into
  one `FlatParameter`, sharded over ranks; with `use_orig_params=True` each original attribute
  is a 1-D view of this rank's part (possibly empty). The FlatParameter's metadata keeps every
  original parameter's module (`_param_infos`, `_shared_param_infos` for tied ones) and full
  size (`_numels`): that is what is counted here, with no collective and no gathering.
- FSDP2 (`fully_shard`) and tensor parallelism (`parallelize_module`): parameters are `DTensor`s
  whose shape is the global one, so `numel()` is the full count.
- DeepSpeed ZeRO-3: `p.data` is emptied and `p.ds_numel` holds the full count (what Lightning's
  `DeepSpeedSummary` reads).

D: every rank counts the batches it trains on; under tensor, sequence, context or pipeline
parallelism the ranks of one model replica train on the same batch, so only one rank of each
replica may add its count to the sum over ranks (`rank_counts_tokens`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

EMBEDDING_TYPES = (nn.Embedding, nn.EmbeddingBag)

# Device-mesh dimension names whose ranks train on different batches (data parallelism: DDP,
# FSDP, HSDP's replicate and shard dimensions), as named by Lightning's ModelParallelStrategy
# ("data_parallel"), accelerate's ParallelismConfig ("dp_replicate", "dp_shard") and torch's
# FSDP2/HSDP examples ("dp", "replicate", "shard").
DATA_PARALLEL_DIMS = ("data_parallel", "dp", "dp_replicate", "dp_shard", "replicate", "shard")
# Dimensions whose ranks share one batch (one model replica split over them): Lightning's
# "tensor_parallel", accelerate's "tp" and "cp", and the usual short names.
REPLICA_DIMS = ("tensor_parallel", "tp", "sequence_parallel", "sp", "context_parallel", "cp",
                "pipeline_parallel", "pp")


@dataclass(frozen=True)
class ParamEntry:
    """One original parameter of the full model: its full size and whether it is an embedding
    (the weight of an `nn.Embedding`/`nn.EmbeddingBag`, or tied to one)."""

    name: str
    numel: int
    embedding: bool


def _is_dtensor(t) -> bool:
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # torch built without distributed
        return False
    return isinstance(t, DTensor)


def _is_zero3(t) -> bool:
    return hasattr(t, "ds_numel")  # set on every parameter DeepSpeed ZeRO-3 partitions


def tensor_key(t: torch.Tensor):
    """Identity of the memory a parameter uses, so tensors tied through different Parameter
    objects count once. Sharded parameters (DTensor, ZeRO-3) and tensors without inspectable
    storage (meta, ...) fall back to object identity: a tie there is one Parameter object."""
    if not (_is_dtensor(t) or _is_zero3(t)):
        try:
            storage = t.untyped_storage()
            if t.device.type != "meta" and storage.data_ptr() != 0:
                return ("storage", t.device, storage.data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        except (RuntimeError, NotImplementedError, TypeError):
            pass
    return ("object", id(t))


def full_numel(p: torch.Tensor) -> int:
    """Elements of the full parameter: `ds_numel` under ZeRO-3; a DTensor's numel is global."""
    if _is_zero3(p):
        return int(p.ds_numel)
    return int(p.numel())


def _flat_parameter_type():
    try:
        from torch.distributed.fsdp._flat_param import FlatParameter
    except ImportError:  # torch built without distributed
        return None
    return FlatParameter


def _fsdp1_flat_parameters(module: nn.Module) -> Iterator[torch.Tensor]:
    """The FlatParameter of every FSDP1 unit under `module`, once each: from each unit's handle
    (with use_orig_params=True the flat parameter is not registered) and from the registered
    parameters (the wrapped module holds it as `_flat_param` when use_orig_params=False)."""
    flat_type = _flat_parameter_type()
    if flat_type is None:
        return
    seen = set()
    for sub in module.modules():
        handle = getattr(sub, "_handle", None)
        candidates = [getattr(handle, "flat_param", None)] + list(sub._parameters.values())
        for flat in candidates:
            if isinstance(flat, flat_type) and id(flat) not in seen:
                seen.add(id(flat))
                yield flat


def _fsdp1_entries(flat) -> Tuple[List[Tuple[tuple, ParamEntry]], set]:
    """(entries, managed) for one FlatParameter: an entry per original parameter with its full
    numel, and the (module id, attribute name) of every original attribute it manages (their
    use_orig_params views must not be counted again)."""
    try:
        infos, shared, numels, fqns = flat._param_infos, flat._shared_param_infos, flat._numels, flat._fqns
    except AttributeError as exc:
        raise ValueError(f"this torch's FSDP FlatParameter lacks the metadata N is counted from ({exc}); "
                         "pass the N of the unsharded model explicitly") from None
    embedding = [isinstance(info.module, EMBEDDING_TYPES) for info in infos]
    for info in shared:  # a tie: `info` names the same tensor as a primary in `infos`
        if isinstance(info.module, EMBEDDING_TYPES):
            embedding[_index_of(infos, info.prim_module, info.prim_param_name)] = True
    managed = {(id(info.module), info.param_name) for info in infos}
    managed |= {(id(info.module), info.param_name) for info in shared}
    entries = [(("flat", id(flat), i), ParamEntry(fqns[i], int(numels[i]), embedding[i])) for i in range(len(infos))]
    return entries, managed


def _index_of(infos, module, name) -> int:
    for i, info in enumerate(infos):
        if info.module is module and info.param_name == name:
            return i
    raise ValueError(f"FSDP metadata names a tied parameter {name!r} with no primary; pass N explicitly")


def parameter_entries(module: nn.Module) -> List[ParamEntry]:
    """Every original parameter of the full model under `module` once, with its full size,
    whether or not (and however) it is sharded: plain, FSDP1 (flat parameters, with or without
    use_orig_params), FSDP2/tensor-parallel DTensors and DeepSpeed ZeRO-3 parameters.

    Tied or shared tensors count once (one Parameter object registered twice, two Parameter
    objects over the same memory, or FSDP1's shared parameters). Raises ValueError for lazy
    parameters not yet initialised.
    """
    entries: Dict[tuple, ParamEntry] = {}
    managed = set()
    for flat in _fsdp1_flat_parameters(module):
        flat_entries, flat_managed = _fsdp1_entries(flat)
        entries.update(flat_entries)
        managed |= flat_managed
    flat_type = _flat_parameter_type()
    embedding_keys = {tensor_key(sub.weight) for sub in module.modules()
                      if isinstance(sub, EMBEDDING_TYPES) and (id(sub), "weight") not in managed
                      and isinstance(getattr(sub, "weight", None), torch.Tensor)}
    for owner_name, owner in module.named_modules(remove_duplicate=False):
        for attr, p in owner._parameters.items():
            name = f"{owner_name}.{attr}" if owner_name else attr
            if p is None or (id(owner), attr) in managed or (flat_type is not None and isinstance(p, flat_type)):
                continue
            if getattr(p, "_fsdp_flattened", False):
                raise ValueError(f"parameter {name!r} is a view into an FSDP1 flat parameter whose wrapper is outside "
                                 f"the {type(module).__name__} counted, so only this rank's shard is visible: count "
                                 "the FSDP-wrapped model (e.g. trainer.strategy.model) or the model before wrapping")
            if nn.parameter.is_lazy(p):  # not isinstance(UninitializedParameter): a DTensor passes that test
                raise ValueError(f"parameter {name!r} is not initialised yet (a lazy module): run one forward "
                                 "pass first, or pass non_embedding_params= explicitly")
            key = tensor_key(p)
            if key not in entries:
                entries[key] = ParamEntry(name, full_numel(p), key in embedding_keys)
    return list(entries.values())


def _mesh_dims(mesh) -> Tuple[Sequence[Optional[str]], Sequence[int]]:
    names = getattr(mesh, "mesh_dim_names", None)
    coordinate = mesh.get_coordinate()
    if coordinate is None:
        raise ValueError("this rank is not part of the device mesh, so its tokens cannot be placed; "
                         "count tokens on the ranks of the mesh")
    return (names if names is not None else (None,) * len(coordinate)), coordinate


def rank_counts_tokens(mesh=None, data_parallel_dims: Sequence[str] = DATA_PARALLEL_DIMS) -> bool:
    """Whether this rank's tokens enter the sum over ranks that gives D.

    Without a device mesh (DDP, FSDP, DeepSpeed: every rank trains on its own batches): True.
    With one, the ranks of a model replica (same coordinates in every data-parallel dimension)
    train on the same batch, so only the replica's first rank counts: True when this rank's
    coordinate is 0 in every dimension that is not data-parallel. A mesh without dimension
    names is taken as all data-parallel (HSDP's (replicate, shard) meshes are built unnamed).
    A dimension named neither in `data_parallel_dims` nor in `REPLICA_DIMS` raises ValueError:
    a wrong guess would silently double D or halve it.
    """
    if mesh is None:
        return True
    names, coordinate = _mesh_dims(mesh)
    replica = []
    for name, c in zip(names, coordinate):
        if name is None or name in data_parallel_dims:
            continue
        if name not in REPLICA_DIMS:
            raise ValueError(f"device-mesh dimension {name!r} is not known to be data-parallel "
                             f"({', '.join(data_parallel_dims)}) or to split one replica ({', '.join(REPLICA_DIMS)}); "
                             "its ranks may or may not train on the same batches. Name the mesh's dimensions with "
                             "these names, or pass the token count explicitly")
        replica.append(c)
    return all(c == 0 for c in replica)


def strategy_device_mesh(strategy):
    """The device mesh of a Lightning strategy that has one (ModelParallelStrategy), else None."""
    try:
        mesh = getattr(strategy, "device_mesh", None)
    except RuntimeError:  # ModelParallelStrategy before setup_environment
        return None
    return mesh if hasattr(mesh, "get_coordinate") else None


def data_parallel_sum(mesh=None, group=None):
    """A `sum_over_ranks` for ScalingTracker under torch.distributed: every process's count summed
    over the default group (or `group`), each model replica's count entering once
    (`rank_counts_tokens(mesh)`; every process must call it together)."""
    import torch.distributed as dist

    counts = rank_counts_tokens(mesh)

    def total(t: torch.Tensor) -> torch.Tensor:
        t = t.clone() if counts else torch.zeros_like(t)
        dist.all_reduce(t, group=group)
        return t

    return total
