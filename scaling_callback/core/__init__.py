"""The maths, numpy/scipy only (no torch, no Lightning; tests/test_layers.py checks it): laws,
the forecast, advice, the early-stopping rule, cross-run laws, compute, and every tag name."""
