"""The `scaling-callback` command line: one subcommand per task (numpy side only, starts fast).

    scaling-callback forecast FILE [--run RUN_ID] [--upto STEP] [--at STEP] [--schedule SCHED.csv] [--json] [--tag TAG]
                              [--family PATH ...]
    scaling-callback whatif LOGDIR|FILE [--run RUN_ID] [--upto STEP] --decay-at S [S ...] --decay-length L
                            [--shape linear|sqrt|cosine] [--plot FILE] [--json]
    scaling-callback fit RUN [RUN ...] [--form chinchilla|kaplan|muennighoff] [--holdout RUN ...]
                         [--json] [--save FIT.json] [--plot FILE]
    scaling-callback plan (--compute FLOPS | --loss LOSS) --fit FIT.json [--inference-tokens T]
    scaling-callback compare FIT_A FIT_B [--compute FLOPS ...] [--plot FILE] [--json]

Each subcommand is a module of this package whose `add_parser(subparsers)` registers its parser
and sets `func` (args -> exit code); `SUBCOMMANDS` lists them. torch and Lightning are never imported here.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, List, Optional

from . import compare, fit, forecast, plan, whatif

SUBCOMMANDS: List[Callable] = [forecast.add_parser, whatif.add_parser, fit.add_parser, plan.add_parser,
                               compare.add_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaling-callback",
                                     description="Scaling-law forecasts and accounting for LM training runs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
