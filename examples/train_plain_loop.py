"""Train a tiny byte-level GPT with a bare PyTorch loop and `ScalingTracker`: the run's scale
(N, D, C), a forecast of the final validation loss with an 80% interval at every evaluation,
advice, and (with --stop) the predictive early-stopping rule, all written to TensorBoard. No
Lightning, no Trainer: the four calls a loop needs are marked "ScalingTracker".

No download: the text is the `.py` files of the standard library of the Python that runs this.

    python3 examples/train_plain_loop.py                       # 200 steps
    python3 examples/train_plain_loop.py --stop                # stop on a forecast plateau
    torchrun --nproc_per_node 2 examples/train_plain_loop.py   # data parallel: D summed over ranks
    tensorboard --logdir runs/plain_loop
"""
from __future__ import annotations

import argparse
import math
import os
import sysconfig
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.utils.tensorboard import SummaryWriter

from scaling_callback import ScalingTracker
from scaling_callback.core.gate import PlateauGate
from scaling_callback.tracking.sharded import data_parallel_sum

VOCAB = 256  # bytes


def stdlib_bytes(max_bytes: int) -> np.ndarray:
    """Up to `max_bytes` of the standard library's .py files, in a fixed order, as uint8."""
    root = Path(sysconfig.get_paths()["stdlib"])
    chunks, size = [], 0
    for path in sorted(root.glob("*.py")):
        data = path.read_bytes()
        chunks.append(data)
        size += len(data)
        if size >= max_bytes:
            break
    return np.frombuffer(b"\n".join(chunks)[:max_bytes], dtype=np.uint8)


class GPT(nn.Module):
    """Decoder-only transformer: token and position embeddings, pre-norm blocks, tied LM head."""

    def __init__(self, d_model: int, n_layer: int, n_head: int, n_ctx: int):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Embedding(n_ctx, d_model)
        self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(d_model, n_head, 4 * d_model, dropout=0.0,
                                                               batch_first=True, norm_first=True)
                                    for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, VOCAB, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        causal = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        for block in self.blocks:
            x = block(x, src_mask=causal, is_causal=True)
        return self.head(self.ln_f(x))


def batches(data: torch.Tensor, batch_size: int, n_ctx: int, seed: int):
    """Endless random windows of n_ctx + 1 bytes: (input ids, next-byte targets)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        starts = torch.randint(0, len(data) - n_ctx - 1, (batch_size,), generator=g)
        window = torch.stack([data[s: s + n_ctx + 1] for s in starts.tolist()])
        yield window[:, :-1], window[:, 1:]


def loss_of(model, batch):
    ids, target = batch
    return F.cross_entropy(model(ids).reshape(-1, VOCAB), target.reshape(-1))


@torch.no_grad()
def evaluate(model, val_batches) -> float:
    model.eval()
    loss = sum(float(loss_of(model, b)) for b in val_batches) / len(val_batches)
    model.train()
    return loss


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=200, help="optimizer steps planned (the forecast's target)")
    p.add_argument("--eval-every", type=int, default=20)
    p.add_argument("--accumulate", type=int, default=2, help="micro-batches per optimizer step")
    p.add_argument("--batch-size", type=int, default=8, help="windows per micro-batch")
    p.add_argument("--n-ctx", type=int, default=32)
    p.add_argument("--d-model", type=int, default=32)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--corpus-mb", type=float, default=1.0)
    p.add_argument("--stop", action="store_true", help="stop when the forecast gains less than --min-delta")
    p.add_argument("--min-delta", type=float, default=0.01)
    p.add_argument("--logdir", default="runs/plain_loop")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    distributed = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1  # launched by torchrun
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    torch.manual_seed(0)
    text = torch.from_numpy(stdlib_bytes(int(args.corpus_mb * 2**20)).astype(np.int64))
    split = int(0.95 * len(text))
    train = batches(text[:split], args.batch_size, args.n_ctx, seed=1 + rank)  # each rank its own windows
    val_batches = [next(batches(text[split:], args.batch_size, args.n_ctx, seed=0)) for _ in range(4)]

    model = GPT(args.d_model, args.n_layer, args.n_head, args.n_ctx)
    trained = nn.parallel.DistributedDataParallel(model) if distributed else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)

    def warmup_cosine(step):  # linear warm-up, then cosine to 10% of the peak at --steps
        if step < args.warmup:
            return (step + 1) / args.warmup
        return 0.1 + 0.45 * (1 + math.cos(math.pi * (step - args.warmup) / max(1, args.steps - args.warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
    writer = SummaryWriter(args.logdir) if rank == 0 else None
    # ScalingTracker (1/4): N from the model, the planned end, the schedule (simulated on copies, once)
    tracker = ScalingTracker(model, planned_steps=args.steps, optimizer=optimizer, schedulers=scheduler,
                             writer=writer, sum_over_ranks=data_parallel_sum() if distributed else None)
    tracker.is_rank_zero = rank == 0
    gate = PlateauGate(min_delta=args.min_delta, patience=3) if args.stop else None
    if rank == 0:
        print(f"N = {tracker.n_params:,} non-embedding parameters; {args.steps} steps planned, "
              f"{len(text[:split]):,} training bytes")
        print(f"{'step':>6} {'tokens D':>10} {'val_loss':>9} {'forecast at end (80% interval)':>32}")

    tracker.training_started(0)  # the throughput clock (throughput/* tags) starts here
    for step in range(1, args.steps + 1):
        for _ in range(args.accumulate):
            batch = next(train)
            loss = loss_of(trained, batch) / args.accumulate
            loss.backward()
            tracker.count(batch)  # ScalingTracker (2/4): every micro-batch, no host-device sync
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.eval_every and step != args.steps:
            continue
        tracker.evaluation_started()  # evaluation time is not training time
        val_loss = evaluate(model, val_batches)
        # ScalingTracker (3/4): every rank calls it (D is summed over ranks); rank 0 forecasts and writes
        report = tracker.observe(step, val_loss, train_loss=float(loss.detach()) * args.accumulate, forecast=rank == 0)
        record = report.record
        if rank == 0:
            interval = (f"{record.loss:.3f} [{record.low:.3f}, {record.high:.3f}]" if record is not None and record.ok
                        else "—")
            print(f"{step:>6} {report.observation.tokens:>10,} {val_loss:>9.3f} {interval:>32}")
        if gate is not None:
            check = gate.check(step, record) if rank == 0 else None
            stop = torch.tensor(int(check is not None and check.stop))
            if distributed:
                dist.broadcast(stop, src=0)  # every rank stops at the same step
            if stop.item():
                if rank == 0:
                    print(check.reason)
                break
    # ScalingTracker (4/4): plain numbers to keep in a checkpoint; load_state_dict resumes the counts
    state = tracker.state_dict()
    tracker.finish()  # the latest forecast's figure, where the figure cadence skipped it
    if rank == 0:
        torch.save({"model": model.state_dict(), "scaling": state}, os.path.join(args.logdir, "checkpoint.pt"))
        writer.close()
        print(f"TensorBoard logs: {args.logdir}")
    if distributed:
        dist.destroy_process_group()
    return tracker, gate


if __name__ == "__main__":
    main()
