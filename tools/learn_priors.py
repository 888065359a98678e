"""Learn the forecaster's priors and interval scale from the development curves; print them.

    python3 tools/learn_priors.py [--exclude SOURCE ...] [--nats] [--window W]

Loads the runs of data/curves (scaling_callback.runs) and learns the priors from them
(scaling_callback.core.forecast.learning, whose docstring says how). The output is the
DEFAULT_PRIORS literal pasted into scaling_callback/core/forecast/priors.py.
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from scaling_callback.core.forecast.learning import (CANDIDATE_SHAPES, START, complete_curve_fits, learn_priors,
                                                     start_priors)
from scaling_callback.runs import SOURCES, load_runs

COMMAND = "python3 tools/learn_priors.py"


def drop_summary(runs, priors) -> str:
    """One comment line: the range of the realised drops and their correlation with the decay fraction."""
    anneal, _ = complete_curve_fits(runs, dataclasses.replace(priors, drops=priors.drops), CANDIDATE_SHAPES)
    points = np.concatenate([np.asarray(v) for v in anneal.values()])
    return (f"# realised drop per unit decay depth over {len(points)} decaying runs: "
            f"{points[:, 1].min():.3f} to {points[:, 1].max():.3f}; correlation with the decay fraction f: "
            f"{np.corrcoef(points[:, 0], points[:, 1])[0, 1]:.2f} overall, "
            + ", ".join(f"{src} {np.corrcoef(np.asarray(v)[:, 0], np.asarray(v)[:, 1])[0, 1]:.2f}"
                        for src, v in sorted(anneal.items()) if len(v) > 2))


def command_line(args) -> str:
    """The command that reproduces this output, as the literal's comment names it."""
    cmd = COMMAND + (" --exclude " + " ".join(args.exclude) if args.exclude else "")
    if args.nats:
        cmd += " --nats"
    if args.window != START.window:
        cmd += f" --window {args.window:g}"
    return cmd


def priors_literal(priors) -> str:
    """The DEFAULT_PRIORS = ForecastPriors(...) literal of priors.py."""
    lines = ["DEFAULT_PRIORS = ForecastPriors(",
             f"    log_alpha=({priors.log_alpha[0]:.4f}, {priors.log_alpha[1]:.4f}),",
             f"    anneal=({priors.anneal[0]:.4f}, {priors.anneal[1]:.4f}, {priors.anneal[2]:.4f}),",
             "    drops=("]
    lines += [f"        DropPrior({d.C:.6g}, {d.beta:g}, {d.gamma:g}, {d.weight:.4f})," for d in priors.drops]
    lines.append("    ),")
    for name in ("noise", "interval_own", "interval_hindcast", "interval_sensitivity", "interval_ahead",
                 "interval_z", "interval_z_before_decay", "min_fraction", "window"):
        lines.append(f"    {name}={getattr(priors, name)!r},")
    if priors.anneal_nats:
        lines.append(f"    anneal_nats={priors.anneal_nats!r},")
    return "\n".join(lines + [")"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exclude", nargs="*", default=[], choices=SOURCES, help="sources left out")
    ap.add_argument("--nats", action="store_true",
                    help="the drop prior in nats, not as a fraction of the loss (ForecastPriors.anneal_nats)")
    ap.add_argument("--window", type=float, default=START.window,
                    help="fit only points after this fraction of the last observed step")
    args = ap.parse_args(argv)
    runs = load_runs([s for s in SOURCES if s not in args.exclude])
    priors = learn_priors(runs, start_priors(args.nats, args.window))
    used = ", ".join(sorted({r.source for r in runs}))
    print(drop_summary(runs, priors))
    print(f"# Learnt from data/curves ({used}; {len(runs)} runs) by `{command_line(args)}`.")
    print(priors_literal(priors))


if __name__ == "__main__":
    main()
