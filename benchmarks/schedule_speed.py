"""How long simulate_lr_schedule takes to simulate a planned run, per scheduler and run length.

    python3 benchmarks/schedule_speed.py [--steps 1000 10000 100000] [--repeats 3]

Prints the best of `repeats` wall times (seconds) and microseconds per simulated step.
"""
import argparse
import time

import torch
from torch.optim import lr_scheduler as S

from scaling_callback.tracking.schedule import SchedulerStepping, simulate_lr_schedule


def _schedulers(total):
    warm = max(1, total // 50)
    return {
        "LambdaLR (warm-up)": lambda o: S.LambdaLR(o, lambda s: min(1.0, (s + 1) / warm)),
        "CosineAnnealingLR": lambda o: S.CosineAnnealingLR(o, T_max=total),
        "OneCycleLR": lambda o: S.OneCycleLR(o, max_lr=1e-3, total_steps=total),
        "SequentialLR (warm-up + cosine)": lambda o: S.SequentialLR(
            o, [S.LinearLR(o, 0.01, total_iters=warm), S.CosineAnnealingLR(o, T_max=total - warm)], [warm]),
        "ChainedScheduler (2)": lambda o: S.ChainedScheduler(
            [S.ConstantLR(o, 0.5, total_iters=warm), S.ExponentialLR(o, 0.99999)]),
        "StepLR, epoch interval (1000 steps/epoch)": lambda o: SchedulerStepping(S.StepLR(o, 1, 0.9), "epoch"),
        "lr_schedule callable": None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = torch.nn.Linear(256, 256)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"| scheduler | {' | '.join(f'{n} steps: s (µs/step)' for n in args.steps)} |")
    print("| --- |" + " --- |" * len(args.steps))
    for name in _schedulers(1000):
        cells = []
        for total in args.steps:
            best = float("inf")
            for _ in range(args.repeats):
                opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
                make = _schedulers(total)[name]
                t0 = time.perf_counter()
                if make is None:
                    sim = simulate_lr_schedule(None, lr_schedule=lambda s: 1e-3 * min(1.0, (s + 1) / 100),
                                               total_steps=total)
                else:
                    sim = simulate_lr_schedule(opt, make(opt), total, steps_per_epoch=1000)
                best = min(best, time.perf_counter() - t0)
                assert sim.note is None and sim.lr.size == total + 1
            cells.append(f"{best:.3f} ({1e6 * best / total:.1f})")
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
