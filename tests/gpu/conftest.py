"""The GPU checks as tests: they run only where CUDA is present, each check in its own process
(gpu_runner.py), and with GPU_CHECK_TABLE=1 in the environment (benchmarks/gpu_checks.py) the
session ends with a table of every check's rows: check | result | detail."""
import os

import pytest
from gpu_runner import ROWS, versions


def pytest_runtest_makereport(item, call):
    """A GPU check skipped here still gets its row in the table."""
    if call.when == "setup" and call.excinfo is not None and call.excinfo.errisinstance(pytest.skip.Exception):
        name = item.callspec.params.get("check", item.name) if hasattr(item, "callspec") else item.name
        ROWS.append((name, None, f"SKIPPED: {call.excinfo.value.msg}"))


def pytest_terminal_summary(terminalreporter):
    if not ROWS or not (os.environ.get("GPU_CHECK_TABLE") or any(ok is not None for _, ok, _ in ROWS)):
        return
    write = terminalreporter.write_line
    width = max(len(r[0]) for r in ROWS)
    write(f"\nGPU checks: {versions()}")
    write(f"| {'check'.ljust(width)} | result | detail |")
    write(f"| {'-' * width} | ------ | ------ |")
    for name, ok, detail in ROWS:
        result = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
        write(f"| {name.ljust(width)} | {result:<6} | {detail} |")
    passed = sum(1 for r in ROWS if r[1])
    failed = sum(1 for r in ROWS if r[1] is False)
    write(f"{passed} passed, {failed} failed, {len(ROWS) - passed - failed} skipped")
