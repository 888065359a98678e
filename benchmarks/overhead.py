"""How much ScalingLawCallback adds to training time: the same tiny run with and without it.

    python3 benchmarks/overhead.py                 # defaults: 7 repeats x 3 runs x 300 steps, 1 CPU thread
    python3 benchmarks/overhead.py --repeats 11 --steps 500

The runs alternate (off-on-off, then on-off-on, ...) so drifting machine load hits both alike. Batches are
dicts with an attention_mask, the counting path that adds work on the device each step (a mask
sum and an in-place add); a plain token tensor is counted from its shape alone. Printed:
- per repeat (three runs: off-on-off or on-off-on), the median step time (time between
  consecutive training-batch starts) and the fit's wall time, with/without ratios and their
  median, and the ratio of the two outer runs (same setting): the noise floor of the machine;
- the time spent inside the callback's own hooks, as a share of the step time: a direct
  measure that machine noise does not blur.
On a machine with a CUDA GPU it also runs the callback's training-batch hooks under
torch.cuda.set_sync_debug_mode("error") to show they never synchronise host and device; without a
GPU it says that check did not run (tests/test_callback.py forbids tensor reads on CPU instead).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from train_gpt import GPT, VOCAB  # noqa: E402  (the example's model)

from scaling_callback import ScalingLawCallback  # noqa: E402


class PaddedWindows(Dataset):
    """Random byte sequences, right-padded: every 4th item has a quarter of padding."""

    def __init__(self, n_items: int, n_ctx: int):
        self.ids = torch.randint(0, VOCAB, (n_items, n_ctx), generator=torch.Generator().manual_seed(0))
        self.mask = torch.ones(n_items, n_ctx, dtype=torch.long)
        self.mask[::4, -n_ctx // 4:] = 0

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i]}


class MaskedLM(pl.LightningModule):
    def __init__(self, d_model: int, n_layer: int, n_ctx: int):
        super().__init__()
        self.model = GPT(d_model, n_layer, 4, n_ctx)

    def _loss(self, batch):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        loss = F.cross_entropy(self.model(ids)[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1), reduction="none")
        weight = mask[:, 1:].reshape(-1).float()
        return (loss * weight).sum() / weight.sum()

    def training_step(self, batch, batch_idx):
        loss = self._loss(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_loss", self._loss(batch))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=1e-3)


class StepTimer(pl.Callback):
    """Wall time between consecutive training-batch starts (one full step each)."""

    def __init__(self):
        self.starts = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.starts.append(time.perf_counter())

    def median_step(self) -> float:
        return statistics.median(b - a for a, b in zip(self.starts, self.starts[1:]))


def time_hooks(callback, hooks, timings, around=None):
    """Wrap the callback's hooks on the instance: accumulate their wall time into timings[hook];
    `around` (a context-manager factory) is entered around each call."""
    for hook in hooks:
        def timed(*args, _original=getattr(callback, hook), _hook=hook, **kwargs):
            start = time.perf_counter()
            try:
                if around is None:
                    return _original(*args, **kwargs)
                with around():
                    return _original(*args, **kwargs)
            finally:
                timings.setdefault(_hook, []).append(time.perf_counter() - start)
        setattr(callback, hook, timed)


def run(args, with_callback: bool, accelerator="cpu", around=None):
    timer = StepTimer()
    callbacks = [timer]
    hook_times = {}
    if with_callback:
        scaling = ScalingLawCallback()
        time_hooks(scaling, ("on_train_batch_end",), hook_times, around)  # the per-step hook
        time_hooks(scaling, ("on_validation_end",), hook_times)  # reads the count: one sync, by design
        callbacks.append(scaling)
    data = PaddedWindows(args.steps * args.batch_size, args.n_ctx)
    trainer = pl.Trainer(max_steps=args.steps, val_check_interval=args.val_every, limit_val_batches=2,
                         accelerator=accelerator, devices=1, logger=pl.loggers.TensorBoardLogger(args.logdir),
                         callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, log_every_n_steps=10)
    pl.seed_everything(0, verbose=False)
    module = MaskedLM(args.d_model, args.n_layer, args.n_ctx)
    start = time.perf_counter()
    trainer.fit(module, DataLoader(data, batch_size=args.batch_size),
                DataLoader(PaddedWindows(4 * args.batch_size, args.n_ctx), batch_size=args.batch_size))
    return timer.median_step(), time.perf_counter() - start, hook_times


class _SyncDebugError:
    """torch.cuda.set_sync_debug_mode("error") for the duration of a with block."""

    def __enter__(self):
        torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc):
        torch.cuda.set_sync_debug_mode("default")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-ctx", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps timings steady on a busy machine)")
    p.add_argument("--logdir", default="runs/overhead")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")

    print(f"tiny GPT d_model={args.d_model} n_layer={args.n_layer} n_ctx={args.n_ctx} batch={args.batch_size}, "
          f"{args.steps} steps, validation every {args.val_every}, {args.threads} thread(s), "
          f"torch {torch.__version__}, pytorch_lightning {pl.__version__}")
    run(args, True)  # warm-up: imports, allocator, first TensorBoard writer
    # Each repeat is a sandwich, off-on-off or on-off-on: the outer runs' mean cancels a load
    # that drifts linearly across the three; the outer pair's own ratio shows the noise floor.
    rows, batch_hook, val_hook = [], [], []
    for r in range(args.repeats):
        order = (False, True, False) if r % 2 == 0 else (True, False, True)
        runs = [(flag, run(args, flag)) for flag in order]
        for flag, (_, _, hooks) in runs:
            if flag:
                batch_hook += hooks["on_train_batch_end"]
                val_hook += hooks["on_validation_end"]
        step = {flag: statistics.mean(res[0] for f, res in runs if f == flag) for flag in (False, True)}
        fit = {flag: statistics.mean(res[1] for f, res in runs if f == flag) for flag in (False, True)}
        noise = runs[2][1][0] / runs[0][1][0]  # same setting twice
        rows.append((r, "".join("+" if f else "-" for f in order), step[False], step[True], fit[False], fit[True], noise))

    print(f"\n{'repeat':>6} {'runs':>5} {'step ms off':>12} {'step ms on':>11} {'ratio':>7} {'fit s off':>10} "
          f"{'fit s on':>9} {'ratio':>7} {'outer runs ratio':>17}")
    for (r, order, off_step, on_step, off_fit, on_fit, noise) in rows:
        print(f"{r:>6} {order:>5} {1e3 * off_step:>12.3f} {1e3 * on_step:>11.3f} {on_step / off_step:>7.4f} "
              f"{off_fit:>10.2f} {on_fit:>9.2f} {on_fit / off_fit:>7.4f} {noise:>17.4f}")
    step_ratios = [row[3] / row[2] for row in rows]
    fit_ratios = [row[5] / row[4] for row in rows]
    noise = [abs(row[6] - 1) for row in rows]
    median_step = statistics.median(row[2] for row in rows)
    per_batch = statistics.median(batch_hook)
    per_val = statistics.median(val_hook)
    share = (per_batch + per_val / args.val_every) / median_step
    print(f"\nmedian step-time ratio with/without the callback: {statistics.median(step_ratios):.4f} "
          f"(min {min(step_ratios):.4f}, max {max(step_ratios):.4f}, {args.repeats} repeats)")
    print(f"median fit-time ratio with/without the callback:  {statistics.median(fit_ratios):.4f} "
          f"(min {min(fit_ratios):.4f}, max {max(fit_ratios):.4f})")
    print(f"noise floor: the same setting run twice differs by a median {100 * statistics.median(noise):.1f}% "
          "in step time (outer runs ratio); end-to-end ratios closer to 1 than that are not resolved")
    print(f"time inside the callback: on_train_batch_end median {1e6 * per_batch:.1f} us per micro-batch, "
          f"on_validation_end median {1e3 * per_val:.2f} ms per validation")
    print(f"=> callback share of the step time: {100 * share:.3f}% "
          f"(hook time per step / median step time {1e3 * median_step:.2f} ms; target < 1%)")

    if torch.cuda.is_available():
        _, _, hooks = run(args, True, accelerator="gpu", around=_SyncDebugError)
        print(f"\nGPU: {len(hooks['on_train_batch_end'])} training-batch hooks ran under "
              "torch.cuda.set_sync_debug_mode('error') without a host-device synchronisation")
    else:
        print("\nGPU sync check not run: no CUDA GPU on this machine. (On a GPU it runs the callback's "
              "training-batch hooks under torch.cuda.set_sync_debug_mode('error').)")


if __name__ == "__main__":
    main()
