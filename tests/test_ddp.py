"""DDP with 2 CPU processes (gloo): every rank records, and rank 0 logs, the global token count;
ForecastEarlyStopping stops both ranks at the same step.

Each run is one spawned process (tests/ranks.py: a fresh interpreter, under a deadline) whose
Trainer uses strategy="ddp_fork": its two ranks are forked from that fresh process, which holds no
threads of earlier tests (forking the pytest process itself can deadlock a rank), and start in
well under a second. The callback's collective (the token sum) is the same under every DDP
launcher. Every rank writes what it saw to a JSON file the test reads.
"""
import json
import multiprocessing
import os

import lightning.pytorch as L
import pytest
from torch.utils.data import DataLoader

from scaling_callback import ForecastEarlyStopping, ScalingLawCallback, read_scalars
from ranks import run_ranks
from tiny_models import (CurveModule, PaddedTokens, TinyGPTModule, curve_loaders, improving_curve, pad_collate,
                         plateau_curve, trainer_kwargs)


class WriteRankRecord(L.Callback):
    """Each rank writes what its ScalingLawCallback recorded to OUT/rank<r>.json at fit end."""

    def __init__(self, out, callback):
        self.out, self.callback = out, callback

    def on_fit_end(self, trainer, pl_module):
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size,
                  "steps": self.callback.history.column("step").tolist(),
                  "tokens": self.callback.history.column("tokens").tolist(),
                  "checkpoint_tokens": self.callback.state_dict()["tokens"]}  # every rank calls: a collective
        with open(os.path.join(self.out, f"rank{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)


def _fit_counting(_, out):
    data = PaddedTokens(n_items=16)
    callback = ScalingLawCallback()
    settings = trainer_kwargs(out, strategy="ddp_fork", devices=2, max_epochs=2)
    trainer = L.Trainer(callbacks=[callback, WriteRankRecord(out, callback)],
                        logger=L.loggers.TensorBoardLogger(out, name="tb"), **settings)
    trainer.fit(TinyGPTModule(), DataLoader(data, batch_size=2, collate_fn=pad_collate),
                DataLoader(PaddedTokens(n_items=4), batch_size=2, collate_fn=pad_collate))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)")
def test_ddp_two_cpu_processes_count_every_rank(tmp_path):
    run_ranks(_fit_counting, (str(tmp_path),), nprocs=1)
    data = PaddedTokens(n_items=16)
    total = data.total_tokens()
    # DistributedSampler gives rank 0 the even items, rank 1 the odd ones: unequal local counts
    even = sum(data.length(i) for i in range(0, 16, 2))
    assert even != total - even
    for r in (0, 1):
        record = json.loads((tmp_path / f"rank{r}.json").read_text())
        assert record["rank"] == r and record["world_size"] == 2
        assert record["steps"] == [4, 8]  # 8 items per rank, batches of 2
        assert record["tokens"] == [total, 2 * total]
        assert record["checkpoint_tokens"] == 2 * total
    logged = read_scalars(str(tmp_path), ["scaling/tokens", "scaling/epochs"])
    assert logged["scaling/tokens"][1].tolist() == [total, 2 * total]
    assert logged["scaling/epochs"][1].tolist() == [1.0, 2.0]


def _plateau_on_rank0_improving_on_rank1(step, rank):
    return plateau_curve(step) if rank == 0 else improving_curve(step)


class WriteGateRecord(L.Callback):
    """Each rank writes where it stopped and the forecasts it holds to OUT/gate<r>.json."""

    def __init__(self, out, callback, gate):
        self.out, self.callback, self.gate = out, callback, gate

    def on_fit_end(self, trainer, pl_module):
        record = {"global_step": trainer.global_step, "stopped_step": self.gate.stopped_step,
                  "reason": self.gate.reason, "forecast_steps": self.callback.forecasts.column("step").tolist(),
                  "forecast_losses": self.callback.forecasts.column("loss").tolist()}
        with open(os.path.join(self.out, f"gate{trainer.global_rank}.json"), "w") as f:
            json.dump(record, f)


def _fit_gate(_, out):
    callback, gate = ScalingLawCallback(), ForecastEarlyStopping(min_delta=0.02, patience=2)
    settings = trainer_kwargs(out, strategy="ddp_fork", devices=2, max_steps=1000, val_check_interval=40,
                              limit_val_batches=1)
    trainer = L.Trainer(callbacks=[callback, gate, WriteGateRecord(out, callback, gate)],
                        logger=L.loggers.TensorBoardLogger(out, name="tb"), **settings)
    trainer.fit(CurveModule(_plateau_on_rank0_improving_on_rank1), *curve_loaders(2000))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)")
def test_ddp_both_ranks_stop_at_the_same_step(tmp_path):
    """Rank 1's own validation loss keeps improving: were the gate to decide on each rank's own
    curve, rank 0 would stop and rank 1 would not. Rank 0 forecasts, broadcasts, and both stop."""
    run_ranks(_fit_gate, (str(tmp_path),), nprocs=1)

    records = [json.loads((tmp_path / f"gate{r}.json").read_text()) for r in (0, 1)]
    assert 0 < records[0]["stopped_step"] == records[0]["global_step"] < 600  # of 1000 (plateau test in test_early_stopping)
    assert records[1] == records[0]  # same step, same reason, same forecasts (NaN-free after the first)
    assert records[0]["reason"].startswith("Stopped")
    logged = read_scalars(str(tmp_path), ["gate/stopped_step"])["gate/stopped_step"]
    assert logged[1].tolist() == [records[0]["stopped_step"]]
