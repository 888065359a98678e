"""Make the project's own development curves: tiny byte-level GPTs under many schedules.

    python3 tools/make_cpu_curves.py --out data/curves/new [--jobs N] [--device cpu|cuda] [--quick]

Plain PyTorch and numpy only (no scaling_callback import), so any torch >= 2.0 runs it. The text
is the `.py` files of the standard library of the Python that runs it (as examples/train_gpt.py),
in a fixed shuffled order: the training sets are prefixes of the first 90% of those bytes, the
validation set fixed windows of the last 10% (other files: held out).

Runs are grouped by (model size, planned steps); the runs of a group differ in learning rate,
schedule, seed and training-set size, and are trained side by side as one "ensemble" (every
weight has a leading run dimension, so K runs cost one process and one kernel launch per op; the
runs never interact: each has its own data, loss, gradient clipping and AdamW state). Groups run
in parallel processes (one torch thread each on a CPU). Schedules: cosine to 10% and to 0, WSD
with short/long linear and sqrt cool-downs, linear to 0, constant, step; two training sets small
enough to overfit (the validation loss turns up). Every seed is fixed.

Writes into --out:
  cpu_gpt.csv       run_id,step,tokens,lr,val_loss (the shared curves format: lr rows every
                    LR_EVERY steps for the whole planned schedule, val_loss every eval_every)
  cpu_gpt_runs.csv  run_id,source,planned_steps,tokens_per_step,params,schedule (rows for runs.csv)
  cpu_gpt_meta.txt  provenance: torch/python versions, device, wall time per group
"""
from __future__ import annotations

import argparse
import csv
import math
import multiprocessing as mp
import os
import platform
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

VOCAB = 256  # bytes
N_CTX = 64  # context length in bytes
BATCH = 16  # sequences per step and run
WARMUP = 100  # linear warm-up steps (every schedule)
WEIGHT_DECAY = 0.1
CLIP = 1.0  # gradient-norm clip per run
VAL_WINDOWS = 256  # fixed validation windows of N_CTX bytes (16k bytes per validation)
LR_EVERY = 10  # lr rows of the planned schedule every this many steps
CORPUS_BYTES = 6 * 2 ** 20
SMALL_SETS = (24 * 1024, 96 * 1024)  # training sets small enough to overfit (bytes)


@dataclass(frozen=True)
class Size:
    name: str
    d_model: int
    n_layer: int
    n_head: int
    steps: int  # planned steps
    eval_every: int


# ~20k to ~1M non-embedding parameters (12·L·d² + small terms)
SIZES = (
    Size("d32l2", 32, 2, 2, 1500, 50),
    Size("d48l3", 48, 3, 3, 2500, 50),
    Size("d64l4", 64, 4, 4, 3000, 50),
    Size("d96l4", 96, 4, 4, 4000, 100),
    Size("d128l5", 128, 5, 4, 6000, 100),
)
BASE_LR = 2e-3


def schedule(kind: str, T: int) -> np.ndarray:
    """Multiplier on the peak rate at every step 0..T (after step t's update the rate is m[t])."""
    t = np.arange(T + 1, dtype=float)
    warm = np.minimum(1.0, (t + 1) / WARMUP)
    u = np.clip((t - WARMUP) / (T - WARMUP), 0.0, 1.0)  # progress after the warm-up
    if kind == "cos10":
        m = 0.1 + 0.9 * 0.5 * (1 + np.cos(math.pi * u))
    elif kind == "cos0":
        m = 0.5 * (1 + np.cos(math.pi * u))
    elif kind == "linear0":
        m = 1.0 - u
    elif kind == "constant":
        m = np.ones_like(u)
    elif kind == "step":  # x0.3 at 50% and again at 80% of the run
        m = np.where(t < 0.5 * T, 1.0, np.where(t < 0.8 * T, 0.3, 0.09))
    elif kind.startswith("wsd"):  # wsd_<linear|sqrt>_<cool-down % of the run>
        _, shape, pct = kind.split("_")
        start = T * (1 - int(pct) / 100)
        v = np.clip((t - start) / (T - start), 0.0, 1.0)
        m = 1.0 - v if shape == "linear" else 1.0 - np.sqrt(v)
    else:
        raise ValueError(kind)
    return warm * m


# (schedule, lr multiplier, training set: None = the full corpus, else bytes)
VARIANTS = (
    ("cos10", 1.0, None), ("cos0", 1.0, None), ("linear0", 1.0, None), ("constant", 1.0, None),
    ("step", 1.0, None), ("wsd_linear_20", 1.0, None), ("wsd_linear_50", 1.0, None),
    ("wsd_sqrt_20", 1.0, None), ("cos10", 2.5, None), ("wsd_linear_20", 0.4, None),
    ("cos10", 1.0, SMALL_SETS[0]), ("wsd_linear_20", 1.0, SMALL_SETS[1]),
)
QUICK = (("cos10", 1.0, None), ("wsd_sqrt_20", 1.0, SMALL_SETS[0]))


def describe(kind: str, lr: float, T: int) -> str:
    words = {"cos10": "cosine to 10%", "cos0": "cosine to 0", "linear0": "linear to 0", "constant": "constant",
             "step": "step x0.3 at 50% and 80%"}
    if kind.startswith("wsd"):
        _, shape, pct = kind.split("_")
        text = f"WSD, {shape} cool-down over the last {pct}%"
    else:
        text = words[kind]
    return f"warm-up {WARMUP} steps to {lr:.2g}, then {text} at {T}"


# --- data ------------------------------------------------------------------------------------

def corpus() -> np.ndarray:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in ("site-packages", "dist-packages", "__pycache__"))
        files += [Path(folder) / n for n in sorted(names) if n.endswith(".py")]
    np.random.default_rng(0).shuffle(files)
    chunks, size = [], 0
    for path in files:
        try:
            chunks.append(path.read_bytes())
        except OSError:
            continue
        size += len(chunks[-1]) + 1
        if size >= CORPUS_BYTES:
            break
    return np.frombuffer(b"\n".join(chunks)[:CORPUS_BYTES], dtype=np.uint8).astype(np.int64)


# --- an ensemble of K GPTs with a leading run dimension ------------------------------------------

def init_params(K: int, s: Size, seeds, device) -> dict:
    d, L = s.d_model, s.n_layer
    p = {}

    def normal(shape, std, seed_offset):
        out = []
        for k in range(K):
            g = torch.Generator().manual_seed(int(seeds[k]) * 1000 + seed_offset)
            out.append(torch.randn(shape, generator=g) * std)
        return torch.stack(out).to(device)

    p["tok"] = normal((VOCAB, d), 0.02, 1)
    p["pos"] = normal((N_CTX, d), 0.02, 2)
    for i in range(L):
        p[f"ln1_g{i}"] = torch.ones(K, d, device=device)
        p[f"ln1_b{i}"] = torch.zeros(K, d, device=device)
        p[f"qkv_w{i}"] = normal((d, 3 * d), 0.02, 10 + i)
        p[f"qkv_b{i}"] = torch.zeros(K, 3 * d, device=device)
        p[f"proj_w{i}"] = normal((d, d), 0.02 / math.sqrt(2 * L), 20 + i)
        p[f"proj_b{i}"] = torch.zeros(K, d, device=device)
        p[f"ln2_g{i}"] = torch.ones(K, d, device=device)
        p[f"ln2_b{i}"] = torch.zeros(K, d, device=device)
        p[f"fc_w{i}"] = normal((d, 4 * d), 0.02, 30 + i)
        p[f"fc_b{i}"] = torch.zeros(K, 4 * d, device=device)
        p[f"out_w{i}"] = normal((4 * d, d), 0.02 / math.sqrt(2 * L), 40 + i)
        p[f"out_b{i}"] = torch.zeros(K, d, device=device)
    p["lnf_g"] = torch.ones(K, d, device=device)
    p["lnf_b"] = torch.zeros(K, d, device=device)
    for v in p.values():
        v.requires_grad_(True)
    return p


def non_embedding_params(s: Size) -> int:
    d = s.d_model
    per_layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    return s.n_layer * per_layer + 2 * d


def layer_norm(x, g, b):
    x = F.layer_norm(x, x.shape[-1:])
    return x * g[:, None, None, :] + b[:, None, None, :]


def linear(x, w, b):  # x (K, B, T, i), w (K, i, o), b (K, o)
    K, B, T, i = x.shape
    return torch.baddbmm(b[:, None, :], x.reshape(K, B * T, i), w).reshape(K, B, T, -1)


def forward(p, s: Size, ids):
    """Logits (K, B, T, V) for ids (K, B, T): pre-norm blocks, LM head tied to the embedding."""
    K, B, T = ids.shape
    d, H = s.d_model, s.n_head
    x = torch.gather(p["tok"], 1, ids.reshape(K, -1, 1).expand(-1, -1, d)).reshape(K, B, T, d)
    x = x + p["pos"][:, None, :T, :]
    for i in range(s.n_layer):
        h = layer_norm(x, p[f"ln1_g{i}"], p[f"ln1_b{i}"])
        q, k, v = linear(h, p[f"qkv_w{i}"], p[f"qkv_b{i}"]).reshape(K * B, T, 3, H, d // H).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(K, B, T, d)
        x = x + linear(y, p[f"proj_w{i}"], p[f"proj_b{i}"])
        h = layer_norm(x, p[f"ln2_g{i}"], p[f"ln2_b{i}"])
        x = x + linear(F.gelu(linear(h, p[f"fc_w{i}"], p[f"fc_b{i}"])), p[f"out_w{i}"], p[f"out_b{i}"])
    x = layer_norm(x, p["lnf_g"], p["lnf_b"])
    return torch.bmm(x.reshape(K, B * T, d), p["tok"].transpose(1, 2)).reshape(K, B, T, VOCAB)


def per_run_loss(p, s, ids, targets):
    logits = forward(p, s, ids)
    K = ids.shape[0]
    ce = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), reduction="none")
    return ce.reshape(K, -1).mean(dim=1)


# --- one group --------------------------------------------------------------------------------

def train_group(task):
    size, variants, device, out_dir, group_seed = task
    torch.set_num_threads(1)
    t0 = time.time()
    dev = torch.device(device)
    text = corpus()
    split = int(0.9 * len(text))
    train_all, val_text = text[:split], text[split:]
    K, T = len(variants), size.steps
    lengths = [len(train_all) if n is None else n for _, _, n in variants]
    data = torch.from_numpy(train_all).to(dev)
    rng = np.random.default_rng(1234)
    starts = rng.integers(0, len(val_text) - N_CTX - 1, size=VAL_WINDOWS)
    val = torch.from_numpy(np.stack([val_text[a:a + N_CTX + 1] for a in starts])).to(dev)
    val_x, val_y = val[:, :-1].expand(K, -1, -1), val[:, 1:].expand(K, -1, -1)
    mults = torch.tensor(np.stack([schedule(kind, T) for kind, _, _ in variants]), dtype=torch.float32, device=dev)
    peak = torch.tensor([BASE_LR * f for _, f, _ in variants], dtype=torch.float32, device=dev)
    seeds = [group_seed * 100 + k for k in range(K)]
    p = init_params(K, size, seeds, dev)
    names = list(p)
    params = [p[n] for n in names]
    decay = [p[n].dim() == 3 and n != "pos" for n in names]  # matrices and the tied embedding decay
    m1 = [torch.zeros_like(x) for x in params]
    m2 = [torch.zeros_like(x) for x in params]
    gen = torch.Generator(device=dev).manual_seed(group_seed)
    span = torch.tensor([n - N_CTX - 1 for n in lengths], device=dev, dtype=torch.float64)
    offs = torch.arange(N_CTX + 1, device=dev)
    b1, b2, eps = 0.9, 0.95, 1e-8
    vals = {k: [] for k in range(K)}

    def validate(step):
        with torch.no_grad():
            losses = per_run_loss(p, size, val_x, val_y).cpu().numpy()
        for k in range(K):
            vals[k].append((step, float(losses[k])))

    validate(0)
    for step in range(1, T + 1):
        u = torch.rand(K, BATCH, generator=gen, device=dev, dtype=torch.float64)
        idx = (u * span[:, None]).long()[:, :, None] + offs  # (K, B, T+1): each run from its own set
        batch = data[idx]
        loss = per_run_loss(p, size, batch[:, :, :-1], batch[:, :, 1:]).sum()
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            sq = sum(g.reshape(K, -1).pow(2).sum(dim=1) for g in grads)
            scale = torch.clamp(CLIP / (sq.sqrt() + 1e-6), max=1.0)
            lr = peak * mults[:, step - 1]  # the rate of this update: schedule index step-1
            c1, c2 = 1 - b1 ** step, 1 - b2 ** step
            for x, g, a, b, wd in zip(params, grads, m1, m2, decay):
                shape = (K,) + (1,) * (x.dim() - 1)
                g = g * scale.reshape(shape)
                a.mul_(b1).add_(g, alpha=1 - b1)
                b.mul_(b2).addcmul_(g, g, value=1 - b2)
                lr_k = lr.reshape(shape)
                if wd:
                    x.mul_(1 - lr_k * WEIGHT_DECAY)
                x.sub_(lr_k * (a / c1) / ((b / c2).sqrt() + eps))
        if step % size.eval_every == 0 or step == T:
            validate(step)
        if step % 1000 == 0:
            print(f"  {size.name}: step {step}/{T} at {time.time() - t0:.0f} s", flush=True)
    rows, runs = [], []
    mult_np = mults.cpu().numpy()
    for k, (kind, f, n) in enumerate(variants):
        data_name = "full" if n is None else f"{n // 1024}k"
        run_id = f"cpu_{size.name}_{kind}_lr{f:g}_{data_name}"
        by_step = dict(vals[k])
        lr_steps = sorted(set(range(0, T + 1, LR_EVERY)) | set(by_step))
        for st in lr_steps:
            # lr at row `step`: the rate of the next update (the shared format's "rate after step scheduler steps")
            lr_val = BASE_LR * f * mult_np[k, min(st, T)]
            vl = by_step.get(st)
            rows.append((run_id, st, st * BATCH * N_CTX, f"{lr_val:.6g}", "" if vl is None else f"{vl:.5f}"))
        sched = describe(kind, BASE_LR * f, T) + ("" if n is None else f"; training set {n} bytes (overfits)")
        runs.append((run_id, "cpu_gpt", T, BATCH * N_CTX, non_embedding_params(size), sched))
    return size.name, rows, runs, time.time() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for cpu_gpt.csv, cpu_gpt_runs.csv, cpu_gpt_meta.txt")
    ap.add_argument("--jobs", type=int, default=len(SIZES), help="groups trained at once (processes)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="a smoke test: 2 runs of the smallest size, 60 steps")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.quick:
        tasks = [(Size("d32l2", 32, 2, 2, 300, 50), QUICK, args.device, args.out, 1)]
    else:
        tasks = [(s, VARIANTS, args.device, args.out, i + 1) for i, s in enumerate(SIZES)]
    tasks.sort(key=lambda t: -t[0].steps * t[0].d_model ** 2)  # longest first
    t0 = time.time()
    curves = open(os.path.join(args.out, "cpu_gpt.csv"), "w", newline="")
    runs_fh = open(os.path.join(args.out, "cpu_gpt_runs.csv"), "w", newline="")
    meta = open(os.path.join(args.out, "cpu_gpt_meta.txt"), "w")
    cw, rw = csv.writer(curves), csv.writer(runs_fh)
    cw.writerow(("run_id", "step", "tokens", "lr", "val_loss"))
    rw.writerow(("run_id", "source", "planned_steps", "tokens_per_step", "params", "schedule"))
    meta.write(f"python {platform.python_version()} torch {torch.__version__} device {args.device} "
               f"stdlib {sysconfig.get_paths()['stdlib']} cmd {' '.join(sys.argv)}\n")
    ctx = mp.get_context("spawn")
    with ctx.Pool(max(1, min(args.jobs, len(tasks)))) as pool:
        for name, rows, runs, secs in pool.imap_unordered(train_group, tasks):
            cw.writerows(rows)
            rw.writerows(runs)
            meta.write(f"group {name}: {len(runs)} runs in {secs:.0f} s\n")
            for fh in (curves, runs_fh, meta):
                fh.flush()
            print(f"{name}: {len(runs)} runs, {secs:.0f} s (elapsed {time.time() - t0:.0f} s)", flush=True)
    for fh in (curves, runs_fh, meta):
        fh.close()


if __name__ == "__main__":
    main()
