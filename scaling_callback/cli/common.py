"""What the subcommands share: the error line and how numbers are printed."""
from __future__ import annotations

import sys


def fail(command: str, message: str) -> int:
    print(f"scaling-callback {command}: error: {message}", file=sys.stderr)
    return 2


def num(x: float) -> str:
    return f"{x:.4g}"


def level(fit) -> str:
    return f"{100 * fit.confidence:g}%"


def estimate(est) -> str:
    if est.low is None:
        return num(est.value)
    return f"{num(est.value)} [{num(est.low)}, {num(est.high)}]"


def table(head, rows, indent: str = "") -> str:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(r[i]) for r in [head] + list(rows)) for i in range(len(head))]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [head] + list(rows))
