"""Draw docs/img/forecasts.png: forecasts made at 20/40/60% of six development runs.

    python3 docs/make_forecast_figure.py [--out docs/img/forecasts.png]

One run of each kind the forecaster meets (data/curves, the bundled development set): a
warm-up-stable-decay run (MultiPowerLaw), a constant-rate run (Gemstones), a modded-nanogpt
record, an lr_scheduling WSD run, a byte-level CPU run that falls log-linearly (law
"log-linear") and one whose validation loss turns up (law "overfitting"). Each forecast is drawn
from its cutoff to the planned end with its 80% band, as `forecast()` returns it with
DEFAULT_PRIORS; the dots are the whole validation curve, the star its final loss.
"""
from __future__ import annotations

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scaling_callback.core.forecast import forecast  # noqa: E402
from scaling_callback.runs import load_runs  # noqa: E402

PANELS = (  # (source, run id, what it shows)
    ("multipower_law", "mpl_100M_wsd_20000_24000", "WSD, decay in the last 17%"),
    ("gemstones", "gem_1024x28_hot", "constant rate"),
    ("modded_nanogpt_track1", "mng_t1_0002", "modded-nanogpt record"),
    ("lr_scheduling", "fsp_sp124m_wsd0.4l_lr0.001_T25000", "WSD, 40% linear cool-down"),
    ("cpu_gpt", "cpu_d64l4_cos10_lr2.5_full", "byte-level CPU run, cosine"),
    ("cpu_gpt", "cpu_d96l4_cos10_lr1_24k", "byte-level CPU run, 24 KiB of data"),
)
CUTOFFS = ((0.2, "tab:red"), (0.4, "tab:orange"), (0.6, "tab:green"))


def draw(ax, run, title):
    steps, losses = run.curve.observed()
    ax.plot(steps, losses, ".", color="0.55", ms=3, label="validation loss")
    highest = -np.inf
    for cut, color in CUTOFFS:
        s, y = run.seen(cut)
        fc = forecast(s, y, lr=run.lr, target_step=run.final_step)
        if not fc.ok:
            continue
        t = np.linspace(s[-1], run.final_step, 60)
        mid, low, high = fc.predict(t)
        ax.plot(t, mid, "-", color=color, lw=1.5,
                label=f"at {cut:.0%}: {fc.law}, {fc.loss:.3f} [{fc.low:.3f}, {fc.high:.3f}]")
        ax.fill_between(t, low, high, color=color, alpha=0.15, lw=0)
        highest = max(highest, float(np.max(mid)))
        ax.axvline(s[-1], color=color, lw=0.6, ls=":")
    ax.plot([run.final_step], [run.final_loss], "*", color="k", ms=10, label=f"final {run.final_loss:.3f}")
    later = losses[steps >= 0.1 * run.final_step]  # the first tenth (the steepest fall) would flatten the rest
    top = max(later[0], later.max()) if len(later) else losses.max()
    ax.set_ylim(min(losses.min(), run.final_loss) * 0.95, max(top, highest) * 1.02)
    ax.set_title(f"{run.source}: {title}\n{run.run_id}", fontsize=8)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6.5, loc="best")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "img", "forecasts.png"))
    args = ap.parse_args(argv)
    runs = {(r.source, r.run_id): r for r in load_runs(sorted({p[0] for p in PANELS}), max_runs=None)}
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    for ax, (source, run_id, title) in zip(axes.flat, PANELS):
        draw(ax, runs[(source, run_id)], title)
    axes[0, 0].set_ylabel("validation loss")
    axes[1, 0].set_ylabel("validation loss")
    fig.suptitle("forecast() of the final loss made at 20/40/60% of the run, with its 80% interval "
                 "(python3 docs/make_forecast_figure.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
