"""The `scaling-callback` command line (numpy side only: no torch, no Lightning)."""
from __future__ import annotations

import argparse
import sys

from .crossrun_cli import add_fit_parser, add_plan_parser


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scaling-callback",
                                     description="Scaling-law accounting, forecasts and planning.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_fit_parser(subparsers)
    add_plan_parser(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
