"""The checks that need a CUDA GPU (tests/gpu), in one short run, printed as a table.

    python3 benchmarks/gpu_checks.py                          # every check: check | result | detail
    python3 benchmarks/gpu_checks.py --only sync_lightning fsdp_n
    python3 benchmarks/gpu_checks.py --timeout 60 --budget 220 # seconds per check, for all checks

Runs `pytest tests/gpu`: each check in its own process (a distributed process group, a CUDA
error or a hang stays in it) with a time limit; a check that fails is a FAIL row with the
reason. Without a CUDA device every check is SKIPPED. The exit status is pytest's.
"""
from __future__ import annotations

import argparse
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKS = ("sync_lightning", "sync_hf", "fsdp_n", "lightning_fsdp", "token_counter_cuda")  # tests/gpu/checks.py


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", choices=CHECKS, help="run only these checks")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per check before it is killed")
    p.add_argument("--budget", type=float, default=220.0,
                   help="seconds for all checks together: a check gets what is left, and none starts with under 10")
    args = p.parse_args(argv)
    os.environ.update(GPU_CHECK_TABLE="1", GPU_CHECK_TIMEOUT=str(args.timeout), GPU_CHECK_BUDGET=str(args.budget))
    select = ["-k", " or ".join(args.only)] if args.only else []
    return int(pytest.main([os.path.join(ROOT, "tests", "gpu"), "-q", "-p", "no:cacheprovider", *select]))


if __name__ == "__main__":
    sys.exit(main())
