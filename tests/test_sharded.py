"""N of sharded models and D under data × tensor-parallel meshes, on 2 real CPU processes (gloo).

One spawned pair of processes shards TinyGPT with FSDP1 (use_orig_params off and on), FSDP2
(`fully_shard`) and tensor parallelism (`parallelize_module`), counts N on each rank, and
counts tokens on 2×1 and 1×2 device meshes named like Lightning's ModelParallelStrategy's; each
rank writes what it found to a JSON file and the tests compare with the unsharded counts.
The ranks are spawned (tests/ranks.py says why not forked).
"""
import json
import os

import pytest
import torch
import torch.distributed as dist
from torch import nn

from scaling_callback.tracking.accounting import TokenCounter, non_embedding_params
from scaling_callback.tracking.sharded import parameter_entries, rank_counts_tokens
from tiny_models import TinyGPT, expected_params, pad_collate, PaddedTokens
from ranks import free_port, run_ranks

pytestmark = pytest.mark.skipif(
    not dist.is_available(), reason="needs torch.distributed")


def _local_numel(p):
    return p.to_local().numel() if hasattr(p, "to_local") else p.numel()  # a DTensor's numel() is global


def _counts(model):
    return {"kaplan": non_embedding_params(model), "total": non_embedding_params(model, "total"),
            "local_numel": sum(_local_numel(p) for p in model.parameters())}


def _fsdp1(tied, use_orig_params):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    model = TinyGPT(tied=tied)
    return FSDP(model, device_id=torch.device("cpu"), use_orig_params=use_orig_params,
                auto_wrap_policy=ModuleWrapPolicy({nn.TransformerEncoderLayer}))


class _Outer(nn.Module):
    """Holds the model as a LightningModule does: Lightning's FSDPStrategy wraps the LightningModule."""

    def __init__(self):
        super().__init__()
        self.model = TinyGPT(tied=True)


def _fsdp1_around_the_module(use_orig_params):
    """What Lightning's FSDPStrategy (GPU only) builds: FSDP1 around the LightningModule, so the
    module the callback is given holds views or a flat parameter, and the unit's handle is above it."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    inner = _Outer()
    wrapper = FSDP(inner, device_id=torch.device("cpu"), use_orig_params=use_orig_params)
    try:
        inner_count = non_embedding_params(inner)
    except ValueError as exc:
        inner_count = str(exc)
    return {"wrapper": non_embedding_params(wrapper), "inner": inner_count}


def _fsdp2(tied):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (2,), mesh_dim_names=("dp_shard",))
    model = TinyGPT(tied=tied)
    for block in model.blocks:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    loss = model(torch.randint(0, 32, (2, 8))).float().mean()  # the sharded model trains
    loss.backward()
    return model


def _tensor_parallel(tied):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    mesh = init_device_mesh("cpu", (1, 2), mesh_dim_names=("data_parallel", "tensor_parallel"))
    model = TinyGPT(tied=tied)
    plan = {f"blocks.{i}.linear1": ColwiseParallel() for i in range(len(model.blocks))}
    plan.update({f"blocks.{i}.linear2": RowwiseParallel() for i in range(len(model.blocks))})
    if not tied:  # parallelize_module replaces tok.weight with a new Parameter: a tied head would be untied
        plan["tok"] = RowwiseParallel()  # a sharded embedding must still be recognised as one
    return parallelize_module(model, mesh["tensor_parallel"], plan)


def _tokens(shape, rank):
    """Tokens counted on a mesh of `shape` named like Lightning's ModelParallelStrategy's: each
    data-parallel rank trains on its own share of the data (as Lightning's distributed sampler
    gives it), and the ranks of one tensor-parallel group on the same share."""
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", shape, mesh_dim_names=("data_parallel", "tensor_parallel"))
    dp = mesh["data_parallel"]
    data = PaddedTokens(n_items=12)
    counter = TokenCounter()
    for start in range(dp.get_local_rank() * 2, len(data), 2 * dp.size()):
        counter.add_batch(pad_collate([data[start], data[start + 1]]))

    def world_sum(t):
        dist.all_reduce(t)
        return t

    share = rank_counts_tokens(mesh)
    counted = counter.read(lambda t: world_sum(t if share else torch.zeros_like(t)))
    naive = counter.read(world_sum)  # every rank's count in the sum: what counting world size gives
    return {"counted": counted, "naive": naive, "share": share}


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    torch.manual_seed(0)
    result = {}
    try:
        for tied in (True, False):
            for orig in (False, True):
                result[f"fsdp1_tied{tied}_orig{orig}"] = _counts(_fsdp1(tied, orig))
            result[f"fsdp2_tied{tied}"] = _counts(_fsdp2(tied))
            result[f"tp_tied{tied}"] = _counts(_tensor_parallel(tied))
        for orig in (False, True):
            result[f"fsdp1_outer_orig{orig}"] = _fsdp1_around_the_module(orig)
        result["tokens_2x1"] = _tokens((2, 1), rank)
        result["tokens_1x2"] = _tokens((1, 2), rank)
        from torch.distributed.device_mesh import init_device_mesh
        try:
            rank_counts_tokens(init_device_mesh("cpu", (2,), mesh_dim_names=("experts",)))
            result["unknown_dim"] = "no error"
        except ValueError as exc:
            result["unknown_dim"] = str(exc)
    finally:
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump(result, f)
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):

    out = str(tmp_path_factory.mktemp("sharded"))
    port = free_port()
    run_ranks(_worker, (port, out))
    return [json.loads(open(os.path.join(out, f"rank{r}.json")).read()) for r in (0, 1)]


@pytest.mark.parametrize("engine", ["fsdp1_tied{}_origFalse", "fsdp1_tied{}_origTrue", "fsdp2_tied{}", "tp_tied{}"])
@pytest.mark.parametrize("tied", [True, False])
def test_sharded_n_equals_unsharded_n(ranks, engine, tied):
    n, total = expected_params(tied=tied)
    for result in ranks:
        counts = result[engine.format(tied)]
        assert counts["kaplan"] == n
        assert counts["total"] == total
    # each rank holds shards, so what it holds locally is not N: the test can tell
    assert any(result[engine.format(tied)]["local_numel"] != total for result in ranks)


def test_fsdp1_wrapper_above_the_counted_module(ranks):
    n = expected_params(tied=True)[0]
    for result in ranks:
        assert result["fsdp1_outer_origFalse"] == {"wrapper": n, "inner": n}  # the flat parameter is registered inside
        views = result["fsdp1_outer_origTrue"]
        assert views["wrapper"] == n
        assert "whose wrapper is outside" in views["inner"]  # shards only: refused, never a wrong N


def test_tokens_count_data_parallel_ranks_only(ranks):
    data = PaddedTokens(n_items=12)
    total = data.total_tokens()
    for result in ranks:  # 2 data-parallel ranks, each its half: every rank's count enters
        assert result["tokens_2x1"] == {"counted": total, "naive": total, "share": True}
    # 2 tensor-parallel ranks train on the same batches: the DP-only count, not twice it
    assert [r["tokens_1x2"]["counted"] for r in ranks] == [total, total]
    assert [r["tokens_1x2"]["naive"] for r in ranks] == [2 * total, 2 * total]
    assert [r["tokens_1x2"]["share"] for r in ranks] == [True, False]


def test_unknown_mesh_dimension_is_refused(ranks):
    for result in ranks:
        assert "'experts' is not known to be data-parallel" in result["unknown_dim"]


def test_deepspeed_zero3_parameters_count_ds_numel():
    """DeepSpeed is not installed here; ZeRO-3 partitioning is reproduced as its
    `partition_parameters.py` leaves each parameter: `data` emptied, the full size in `ds_numel`
    and `ds_shape`. The tied head stays the same Parameter object."""
    model = TinyGPT(tied=True)
    for p in model.parameters():
        p.ds_numel, p.ds_shape = p.numel(), p.shape
        p.data = torch.empty(0)
    assert sum(p.numel() for p in model.parameters()) == 0
    n, total = expected_params(tied=True)
    assert non_embedding_params(model) == n
    assert non_embedding_params(model, "total") == total
    assert {e.name for e in parameter_entries(model) if e.embedding} == {"tok.weight", "pos.weight"}
