"""A real Lightning ModelParallelStrategy run on 2 CPU processes (gloo): the token count of a
data × tensor-parallel mesh is the data-parallel count (tensor-parallel ranks train on the same
batches), and N of the parallelised model is the unsharded N.

The two ranks are spawned from the test process with the environment a launcher such as
torchrun gives (LOCAL_RANK, WORLD_SIZE, ...), so Lightning takes the processes as created
externally and nothing imports torch or Lightning again.
"""
import json
import os

import lightning.pytorch as L
import pytest
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from scaling_callback import ScalingLawCallback
from tiny_models import PaddedTokens, TinyGPTModule, expected_params, pad_collate, trainer_kwargs
from ranks import free_port, run_ranks

pytestmark = pytest.mark.skipif(
    not dist.is_available(), reason="needs torch.distributed")


class ParallelTinyGPT(TinyGPTModule):
    """TinyGPT with its MLPs split over the tensor-parallel ranks and, over the data-parallel
    ones, sharded with FSDP2: what configure_model does under ModelParallelStrategy."""

    def configure_model(self):
        from torch.distributed.fsdp import fully_shard
        from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

        mesh = self.device_mesh
        if mesh["tensor_parallel"].size() > 1:
            plan = {f"blocks.{i}.linear1": ColwiseParallel() for i in range(len(self.model.blocks))}
            plan.update({f"blocks.{i}.linear2": RowwiseParallel() for i in range(len(self.model.blocks))})
            parallelize_module(self.model, mesh["tensor_parallel"], plan)
        if mesh["data_parallel"].size() > 1:
            fully_shard(self.model, mesh=mesh["data_parallel"])


class WriteRecord(L.Callback):
    def __init__(self, out, callback):
        self.out, self.callback = out, callback

    def on_fit_end(self, trainer, pl_module):
        record = {"tokens": self.callback.history.column("tokens").tolist(), "n": self.callback.n_params,
                  "steps": self.callback.history.column("step").tolist()}
        with open(os.path.join(self.out, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)


def _rank(rank, port, out, dp, tp):
    from lightning.pytorch.strategies import ModelParallelStrategy

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2", LOCAL_RANK=str(rank),
                      NODE_RANK="0", RANK=str(rank))
    torch.manual_seed(0)
    callback = ScalingLawCallback(forecast=False)
    strategy = ModelParallelStrategy(data_parallel_size=dp, tensor_parallel_size=tp)
    trainer = L.Trainer(callbacks=[callback, WriteRecord(out, callback)], logger=False,
                        **trainer_kwargs(out, strategy=strategy, devices=2, max_epochs=1))
    trainer.fit(ParallelTinyGPT(), DataLoader(PaddedTokens(n_items=16), batch_size=2, collate_fn=pad_collate),
                DataLoader(PaddedTokens(n_items=4), batch_size=2, collate_fn=pad_collate))


@pytest.mark.parametrize("dp, tp, steps", [(1, 2, 8), (2, 1, 4)])
def test_model_parallel_counts_each_batch_once(tmp_path, dp, tp, steps):

    port = free_port()
    run_ranks(_rank, (port, str(tmp_path), dp, tp))
    total = PaddedTokens(n_items=16).total_tokens()  # one epoch: every item once over the data-parallel ranks
    for r in (0, 1):
        record = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert record["steps"] == [steps]
        assert record["tokens"] == [total]
        assert record["n"] == expected_params(tied=True)[0]
