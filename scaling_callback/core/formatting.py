"""Numbers in the words of advice, notes and figure titles, written one way everywhere."""
from __future__ import annotations

import math


def format_number(x: float) -> str:
    """A number in words-friendly form: 4 significant digits, scientific when large or small."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.2e}"
