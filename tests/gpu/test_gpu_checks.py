"""Every check of tests/gpu/checks.py, one test each, run only where CUDA is present."""
import pytest
from checks import CHECKS
from gpu_runner import ROWS, requires_cuda, spawn


@requires_cuda
@pytest.mark.parametrize("check", list(CHECKS))
def test_gpu_check(check):
    rows, seconds = spawn(check)
    ROWS.extend(rows)
    failed = [f"{name}: {detail}" for name, ok, detail in rows if ok is False]
    assert not failed, failed
    if all(ok is None for _, ok, _ in rows):
        pytest.skip("; ".join(detail for _, _, detail in rows))
