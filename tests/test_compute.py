"""Compute, PF-days and data ratios (numpy side)."""

import numpy as np
import pytest

from scaling_callback.core.compute import (PF_DAY_FLOPS, context_flops_per_token, epochs_seen, pf_days,
                                      tokens_per_param, training_flops)


def test_six_n_d():
    # Kaplan eq. 2.1: a 1.5e9-parameter model on 3e11 tokens
    assert training_flops(1.5e9, 3e11) == pytest.approx(6 * 1.5e9 * 3e11)
    assert training_flops(10, 0) == 0.0


def test_context_term_adds_six_layer_ctx_attn_per_token():
    n, d = 85_000_000, 2e9
    c = training_flops(n, d, n_layer=12, n_ctx=1024, d_attn=768)
    assert c == pytest.approx((6 * n + 6 * 12 * 1024 * 768) * d)
    assert c > training_flops(n, d)


def test_pf_days_tokens_per_param_epochs():
    assert PF_DAY_FLOPS == 8.64e19
    assert pf_days(8.64e19 * 3) == pytest.approx(3.0)
    assert tokens_per_param(2e10, 1e9) == pytest.approx(20.0)
    assert epochs_seen(10_000, 4_000) == pytest.approx(2.5)


def test_arrays_broadcast():
    out = training_flops(np.array([1e6, 2e6]), np.array([1e9, 1e9]))
    np.testing.assert_allclose(out, [6e15, 1.2e16])
    assert isinstance(out, np.ndarray)
    assert isinstance(training_flops(1e6, 1e9), float)


@pytest.mark.parametrize("call", [
    lambda: training_flops(0, 10),
    lambda: training_flops(-5, 10),
    lambda: training_flops(10, -1),
    lambda: training_flops(10, float("nan")),
    lambda: training_flops(np.array([1.0, -1.0]), 10),
    lambda: pf_days(-1.0),
    lambda: tokens_per_param(10, 0),
    lambda: epochs_seen(10, 0),
    lambda: epochs_seen(-1, 5),
    lambda: training_flops(10, 10, n_layer=2, n_ctx=16),          # partial context term
    lambda: training_flops(10, 10, n_layer=2, n_ctx=16, d_attn=0),
    lambda: context_flops_per_token(2.5, 16, 16),
])
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
