"""How much ScalingLawCallback adds to training time: the same tiny run with and without it.

    python3 benchmarks/overhead.py                 # defaults: 3 repeats x 3 runs x 3000 steps, validation
                                                   # every 1000, forecasting on, 1 CPU thread
    python3 benchmarks/overhead.py --val-every 100 # validate (and forecast) more often
    python3 benchmarks/overhead.py --no-forecast --steps 300 --val-every 100 --repeats 7  # accounting only
    python3 benchmarks/overhead.py --assess-only   # only the table of forecast times by history length

The runs alternate (off-on-off, then on-off-on, ...) so drifting machine load hits both alike. Batches are
dicts with an attention_mask, the counting path that adds work on the device each step (a mask
sum and an in-place add); a plain token tensor is counted from its shape alone. Printed:
- per repeat (three runs: off-on-off or on-off-on), the median step time (time between
  consecutive training-batch starts) and the fit's wall time, with/without ratios and their
  median, and the ratio of the two outer runs (same setting): the noise floor of the machine;
- the time spent inside the callback's own hooks, as a share of the step time: a direct
  measure that machine noise does not blur; with forecasting on, the validation-end hook split
  into the tracker's public steps (`observe`: accounting, forecast and advice; `write_tensorboard`),
  the forecasting engine's call (forecast/fit_seconds, read back from the run's event file) and
  the figure drawn every few validations (timed after each run through plots.forecast_figure_of
  and tensorboard.write_figure); and the validation interval at which the callback's share of
  the training time would be 1%;
- the time of one forecast and advice (`tracking.assess`, what the callback runs at each
  validation on global rank zero) by the number of validation points and the planned steps.
On a machine with a CUDA GPU it also runs the callback's training-batch hooks under
torch.cuda.set_sync_debug_mode("error") to show they never synchronise host and device; without a
GPU it says that check did not run (tests/test_callback.py forbids tensor reads on CPU instead).
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
import pytorch_lightning as pl
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.tensorboard import SummaryWriter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from train_gpt import GPT, VOCAB  # noqa: E402  (the example's model)

from scaling_callback import ScalingLawCallback, read_scalars  # noqa: E402
from scaling_callback.plots import forecast_figure_of  # noqa: E402
from scaling_callback.tensorboard import write_figure  # noqa: E402
from scaling_callback.core.history import History, Observation  # noqa: E402
from scaling_callback.core.planning import compress_schedule  # noqa: E402
from scaling_callback.core.assess import assess  # noqa: E402
from scaling_callback.core.tags import FIT_SECONDS, WHATIF_SECONDS  # noqa: E402
from scaling_callback.core.whatif import live_whatif  # noqa: E402


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


def figure_seconds(tracker, repeats: int = 3) -> float:
    """Best-of-`repeats` time to draw the latest forecast's figure and write it to an event file,
    through the public functions the tracker calls (plots.forecast_figure_of, tensorboard.write_figure)."""
    best = math.inf
    with tempfile.TemporaryDirectory() as folder:
        writer = SummaryWriter(folder)
        for _ in range(repeats):
            start = time.perf_counter()
            figure = forecast_figure_of(tracker.history, tracker.assessment, monitor=tracker.monitor)
            write_figure(writer, figure, tracker.assessment.record.step)
            best = min(best, time.perf_counter() - start)
        writer.close()
    return best


def run(args, with_callback: bool, accelerator="cpu", around=None):
    timer = StepTimer()
    callbacks = [timer]
    hook_times = {}
    if with_callback:
        scaling = ScalingLawCallback(forecast=not args.no_forecast)
        time_hooks(scaling, ("on_train_batch_end",), hook_times, around)  # the per-step hook
        # reads the count (one sync, by design), forecasts and advises on rank zero
        time_hooks(scaling, ("on_validation_end",), hook_times)
        if not args.no_forecast:  # the tracker's public steps: observe (count, forecast, advise), then TensorBoard
            time_hooks(scaling.tracker, ("observe", "write_tensorboard"), hook_times)
        callbacks.append(scaling)
    data = PaddedWindows(args.steps * args.batch_size, args.n_ctx)
    logger = pl.loggers.TensorBoardLogger(args.logdir)
    trainer = pl.Trainer(max_steps=args.steps, val_check_interval=args.val_every, limit_val_batches=2,
                         accelerator=accelerator, devices=1, logger=logger,
                         callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0, log_every_n_steps=10)
    pl.seed_everything(0, verbose=False)
    module = MaskedLM(args.d_model, args.n_layer, args.n_ctx)
    start = time.perf_counter()
    trainer.fit(module, DataLoader(data, batch_size=args.batch_size),
                DataLoader(PaddedWindows(4 * args.batch_size, args.n_ctx), batch_size=args.batch_size))
    elapsed = time.perf_counter() - start
    if with_callback and not args.no_forecast:
        fits = read_scalars(logger.log_dir, [FIT_SECONDS]).get(FIT_SECONDS)
        hook_times["engine"] = [] if fits is None else fits[1].tolist()
        whatifs = read_scalars(logger.log_dir, [WHATIF_SECONDS]).get(WHATIF_SECONDS)
        hook_times["whatif"] = [] if whatifs is None else whatifs[1].tolist()
        hook_times["validations"] = [len(scaling.tracker.history)]
        figure = figure_seconds(scaling.tracker)
        hook_times["figure"] = [figure]
        # steady state: every validation forecasts (not the run's first: one point, nothing to fit;
        # the median leaves out the few that draw a figure), a figure at one validation in figure_every
        rest = hook_times["on_validation_end"][1:]
        hook_times["steady"] = [statistics.median(rest) + figure / scaling.tracker.figure_every] if rest else []
    return timer.median_step(), elapsed, hook_times


def _history(n_points: int, planned: int) -> History:
    """n_points validations evenly spread over the first half of a planned run, on a power law."""
    steps = np.linspace(planned / 2 / n_points, planned / 2, n_points).round().astype(int)
    loss = 2.0 + 3.0 * steps ** -0.3 + 0.002 * np.sin(steps)
    return History(Observation(int(s), int(s) * 2048, 1.0, float(v), float(v) - 0.05) for s, v in zip(steps, loss))


def assess_table(repeats: int = 5) -> None:
    """Best-of-`repeats` time of one `tracking.assess` (forecast + advice) by history length
    and planned steps, constant and warm-up + cosine schedules."""
    print(f"\none forecast and advice (tracking.assess), best of {repeats}, ms:")
    print(f"{'points':>7} {'planned steps':>14} {'constant lr':>12} {'cosine lr':>10} {'engine only (cosine)':>21}")
    for planned in (10_000, 100_000, 1_000_000):
        steps = np.arange(planned + 1)
        warm = planned // 50
        lr = np.where(steps < warm, steps / warm, 0.5 * (1 + np.cos(np.pi * (steps - warm) / (planned - warm))))
        knots = compress_schedule(steps, lr)
        for n_points in (10, 100, 1000):
            history = _history(n_points, planned)
            times = {}
            for name, schedule in (("constant", None), ("cosine", knots)):
                best, engine = math.inf, math.inf
                for _ in range(repeats):
                    start = time.perf_counter()
                    result = assess(history, target_step=planned, lr=schedule, n_params=1e7, unique_tokens=1e9)
                    best = min(best, time.perf_counter() - start)
                    engine = min(engine, result.fit_seconds)
                    assert result.record.ok, result.record.reason
                times[name] = (best, engine)
            print(f"{n_points:>7} {planned:>14,} {1e3 * times['constant'][0]:>12.1f} {1e3 * times['cosine'][0]:>10.1f} "
                  f"{1e3 * times['cosine'][1]:>21.1f}")


def whatif_table(repeats: int = 5) -> None:
    """Best-of-`repeats` time of the live what-if (`core.whatif.live_whatif`: one forecast at the
    end of a cool-down started now) by history length, for a constant planned rate: what the
    tracker adds to a validation (with whatif_every=1) beside the planned forecast."""
    print(f"\nthe live what-if, cool down now (core.whatif.live_whatif), best of {repeats}, ms:")
    print(f"{'points':>7} {'planned steps':>14} {'what-if':>8} {'planned forecast (assess)':>26}")
    for planned in (10_000, 100_000):
        knots = (np.array([0, planned // 50, planned]), np.array([0.0, 1.0, 1.0]))
        for n_points in (10, 100, 1000):
            history = _history(n_points, planned)
            steps, losses = history.column("step"), history.column("val_loss")
            best, planned_best = math.inf, math.inf
            for _ in range(repeats):
                start = time.perf_counter()
                result = assess(history, target_step=planned, lr=knots, n_params=1e7, unique_tokens=1e9)
                planned_best = min(planned_best, time.perf_counter() - start)
                record = result.record
                start = time.perf_counter()
                found, _, _ = live_whatif(steps, losses, planned_lr=knots, planned_end=planned,
                                          planned_loss=record.loss, planned_low=record.low, planned_high=record.high)
                best = min(best, time.perf_counter() - start)
                assert found is not None and found.ok, found
            print(f"{n_points:>7} {planned:>14,} {1e3 * best:>8.1f} {1e3 * planned_best:>26.1f}")


class _SyncDebugError:
    """torch.cuda.set_sync_debug_mode("error") for the duration of a with block."""

    def __enter__(self):
        torch.cuda.set_sync_debug_mode("error")

    def __exit__(self, *exc):
        torch.cuda.set_sync_debug_mode("default")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--no-forecast", action="store_true", help="ScalingLawCallback(forecast=False): accounting only")
    p.add_argument("--assess-only", action="store_true", help="only the table of forecast times")
    p.add_argument("--assess-repeats", type=int, default=5, help="best of this many calls per cell of that table")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--n-ctx", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps timings steady on a busy machine)")
    p.add_argument("--logdir", default="runs/overhead")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.assess_only:
        assess_table(args.assess_repeats)
        return

    print(f"tiny GPT d_model={args.d_model} n_layer={args.n_layer} n_ctx={args.n_ctx} batch={args.batch_size}, "
          f"{args.steps} steps, validation every {args.val_every}, forecasting {'off' if args.no_forecast else 'on'}, "
          f"{args.threads} thread(s), "
          f"torch {torch.__version__}, pytorch_lightning {pl.__version__}")
    run(args, True)  # warm-up: imports, allocator, first TensorBoard writer
    # Each repeat is a sandwich, off-on-off or on-off-on: the outer runs' mean cancels a load
    # that drifts linearly across the three; the outer pair's own ratio shows the noise floor.
    rows, batch_hook, val_hook, parts = [], [], [], {}
    for r in range(args.repeats):
        order = (False, True, False) if r % 2 == 0 else (True, False, True)
        runs = [(flag, run(args, flag)) for flag in order]
        for flag, (_, _, hooks) in runs:
            if flag:
                batch_hook += hooks["on_train_batch_end"]
                val_hook += hooks["on_validation_end"]
                for name in ("observe", "write_tensorboard", "engine", "figure", "steady", "whatif", "validations"):
                    parts.setdefault(name, []).extend(hooks.get(name, []))
        step = {flag: statistics.mean(res[0] for f, res in runs if f == flag) for flag in (False, True)}
        fit = {flag: statistics.mean(res[1] for f, res in runs if f == flag) for flag in (False, True)}
        noise = runs[2][1][0] / runs[0][1][0]  # same setting twice
        rows.append((r, "".join("+" if f else "-" for f in order), step[False], step[True], fit[False], fit[True], noise))

    print(f"\n{'repeat':>6} {'runs':>5} {'step ms off':>12} {'step ms on':>11} {'ratio':>7} {'fit s off':>10} "
          f"{'fit s on':>9} {'ratio':>7} {'outer runs ratio':>17}")
    for (r, order, off_step, on_step, off_fit, on_fit, noise) in rows:
        print(f"{r:>6} {order:>5} {1e3 * off_step:>12.3f} {1e3 * on_step:>11.3f} {on_step / off_step:>7.4f} "
              f"{off_fit:>10.2f} {on_fit:>9.2f} {on_fit / off_fit:>7.4f} {noise:>17.4f}")
    noise = [abs(row[6] - 1) for row in rows]
    median_step = statistics.median(row[2] for row in rows)
    per_batch = statistics.median(batch_hook)
    per_val = statistics.mean(val_hook)  # the mean: a figure is drawn at some validations only
    print(f"time inside the callback: on_train_batch_end median {1e6 * per_batch:.1f} us per micro-batch; "
          f"on_validation_end per validation mean {1e3 * per_val:.1f} ms, median {1e3 * statistics.median(val_hook):.1f} "
          f"ms, max {1e3 * max(val_hook):.1f} ms ({len(val_hook)} validations)")
    if parts.get("observe"):
        engine, figure = parts["engine"], parts["figure"]
        print(f"  of which the tracker's observe (accounting, forecast, advice): median "
              f"{1e3 * statistics.median(parts['observe']):.1f} ms, its write_tensorboard median "
              f"{1e3 * statistics.median(parts['write_tensorboard']):.1f} ms; the forecasting engine's call "
              f"(forecast/fit_seconds, {len(engine)} fits): median {1e3 * statistics.median(engine):.1f} ms, max "
              f"{1e3 * max(engine):.1f} ms; a figure drawn and written (best of 3, after each run): median "
              f"{1e3 * statistics.median(figure):.1f} ms")
        whatif, validations = parts["whatif"], sum(parts["validations"])
        if whatif:
            print(f"  of which the live what-if (cool down now, whatif/fit_seconds, at {len(whatif)} of {validations} "
                  f"validations): median {1e3 * statistics.median(whatif):.1f} ms where it ran, "
                  f"{1e3 * sum(whatif) / max(validations, 1):.1f} ms per validation on average (target <= 5 ms)")
        per_val = statistics.median(parts["steady"])
        print(f"  steady state (every validation forecasts, a figure every 10th): {1e3 * per_val:.1f} ms per "
              "validation (median over runs)")
    share = (per_batch + per_val / args.val_every) / median_step
    print(f"=> callback share of the step time: {100 * share:.3f}% "
          f"(hook time per step / median step time {1e3 * median_step:.2f} ms; target < 1%)")
    budget = 0.01 * median_step - per_batch
    if budget > 0:
        print(f"   validating every {math.ceil(per_val / budget)} steps or less often keeps it under 1% "
              f"(validation-end time / (1% of a step - per-batch hook time))")

    assess_table(args.assess_repeats)
    whatif_table(args.assess_repeats)

    if torch.cuda.is_available():
        _, _, hooks = run(args, True, accelerator="gpu", around=_SyncDebugError)
        print(f"\nGPU: {len(hooks['on_train_batch_end'])} training-batch hooks ran under "
              "torch.cuda.set_sync_debug_mode('error') without a host-device synchronisation")
    else:
        print("\nGPU sync check not run: no CUDA GPU on this machine. (On a GPU it runs the callback's "
              "training-batch hooks under torch.cuda.set_sync_debug_mode('error').)")


if __name__ == "__main__":
    main()
