"""Peak memory and time of forecast() as the target step grows, per kind of schedule.

    PYTHONPATH=. python3 benchmarks/forecast_memory.py [--targets 1e3 1e4 ... 1e10] [--repeats 3]

For each target T the history is 40 validation points log-spaced over [T/1000, T/10] on a
power-law curve (L = 2 + 8·t^-0.2), and the schedule is one of:
- "per-step, 1,000 entries": an array with the rate of steps 0..999 only (warm-up then a linear
  decay to 10%), held at its last value to T: the case of issue 13 (was 1.65 GB at T = 1e8);
- "per-step, full length": an array with every step 0..T (only up to --full-max, default 1e7:
  beyond that the caller's own array is the memory, not forecast());
- "knots": (steps, rates) with 4 knots: warm-up to T/100, constant to 0.8·T, decay to 10% at T.
Peak memory is tracemalloc's peak over one call (numpy's allocations included; the caller's
input arrays, built before, are not counted); time is the best of `repeats` calls without
tracemalloc. Prints a markdown table.
"""
import argparse
import time
import tracemalloc

import numpy as np

from scaling_callback.core.forecast import forecast


def history(T):
    steps = np.unique(np.rint(np.geomspace(max(T / 1000, 1), T / 10, 40)))
    return steps, 2.0 + 8.0 * steps ** -0.2


def short_per_step(T):
    warm = np.linspace(0.0, 1.0, 100)
    return np.concatenate([warm, np.linspace(1.0, 0.1, 900)])


def full_per_step(T):
    t = np.arange(T + 1, dtype=float)
    warm = max(T // 100, 1)
    return np.where(t < warm, t / warm, np.where(t < 0.8 * T, 1.0, 1.0 - 0.9 * (t - 0.8 * T) / (0.2 * T)))


def knots(T):
    return np.array([0.0, T / 100, 0.8 * T, T]), np.array([0.0, 1.0, 1.0, 0.1])


SCHEDULES = {"per-step, 1,000 entries": short_per_step, "per-step, full length": full_per_step,
             "knots": knots}


def measure(T, make_lr, repeats):
    steps, losses = history(T)
    lr = make_lr(T)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fc = forecast(steps, losses, target_step=T, lr=lr)
        best = min(best, time.perf_counter() - t0)
    tracemalloc.start()
    forecast(steps, losses, target_step=T, lr=lr)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return fc, best, peak / 2 ** 20


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--targets", type=float, nargs="+", default=[10.0 ** k for k in range(3, 11)])
    ap.add_argument("--full-max", type=float, default=1e7, help="largest target for the full-length array")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print("| target step | schedule | ok | forecast (80% interval) | time (s) | peak memory (MiB) |")
    print("| ---: | --- | --- | --- | ---: | ---: |")
    for T in (int(t) for t in args.targets):
        for name, make_lr in SCHEDULES.items():
            if make_lr is full_per_step and T > args.full_max:
                continue
            fc, seconds, mib = measure(T, make_lr, args.repeats)
            value = f"{fc.loss:.4f} ({fc.low:.4f} .. {fc.high:.4f})" if fc.ok else fc.reason[:60]
            print(f"| {T:.0e} | {name} | {'yes' if fc.ok else 'no'} | {value} | {seconds:.3f} | {mib:.1f} |")


if __name__ == "__main__":
    main()
