"""Running the GPU checks of checks.py for the tests: `requires_cuda` (as Lightning's
RunIf(min_cuda_gpus=1)), `spawn` (a check in its own process, within a time budget) and ROWS,
every check's rows this session, which conftest.py prints as a table."""
import json
import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RESULT_PREFIX = "GPU_CHECK_RESULT "  # as tests/gpu/checks.py prints its rows
CHECK_TIMEOUT = float(os.environ.get("GPU_CHECK_TIMEOUT", 60))  # seconds a check may take before it is killed
BUDGET = float(os.environ.get("GPU_CHECK_BUDGET", 220))  # seconds for all checks: none starts with under MIN_LEFT
MIN_LEFT = 10.0
ROWS = []  # (check, ok or None, detail) of every check run or skipped this session
_DEADLINE = []


def cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - no torch, no CUDA
        return False


requires_cuda = pytest.mark.skipif(not cuda_available(), reason="no CUDA device (torch.cuda.is_available() is False)")


def spawn(name: str):
    """(rows, seconds) of check `name` run in its own process, within the time left of BUDGET."""
    if not _DEADLINE:
        _DEADLINE.append(time.perf_counter() + BUDGET)
    left = _DEADLINE[0] - time.perf_counter()
    if left < MIN_LEFT:
        return [(name, None, f"SKIPPED: the {BUDGET:.0f} s budget is spent")], 0.0
    timeout = min(CHECK_TIMEOUT, left)
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, "checks.py"), name], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [(name, False, f"no result within {timeout:.0f} s (killed)")], time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return [tuple(r) for r in json.loads(line[len(RESULT_PREFIX):])], seconds
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return [(name, False, f"exit {proc.returncode} without a result: {' | '.join(tail)}")], seconds


def versions() -> str:
    try:
        import torch

        cuda = torch.cuda.is_available()
        text = f"torch {torch.__version__}, CUDA {torch.version.cuda}, " + (
            torch.cuda.get_device_name(0) if cuda else "no CUDA device")
    except Exception as exc:  # noqa: BLE001
        text = f"torch not importable: {type(exc).__name__}"
    for package in ("lightning", "transformers"):
        try:
            text += f", {package} {__import__(package).__version__}"
        except Exception:  # noqa: BLE001
            text += f", {package} missing"
    return text + f", python {sys.version.split()[0]}"


