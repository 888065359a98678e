"""Any collection of advice results as Markdown for a TensorBoard text panel."""
from __future__ import annotations

from typing import Iterable, Optional

__all__ = ["advice_markdown"]


def advice_markdown(advice: Iterable, *, step: Optional[int] = None,
                    title: str = "Training advice") -> str:
    """Render advice results (any of this module's dataclasses; None entries are skipped) as a
    short Markdown text for a TensorBoard text panel: warnings first, then the other advice, then
    the reference points labelled "Context", each group in the order given."""
    items = [a for a in advice if a is not None]
    for a in items:
        if not (hasattr(a, "message") and hasattr(a, "warning") and hasattr(a, "topic")):
            raise TypeError(f"not an advice result: {type(a).__name__}")
    head = f"### {title}" + (f" at step {step}" if step is not None else "")
    if not items:
        return head + "\n\nNo advice yet."
    ordered = sorted(items, key=lambda a: 0 if a.warning else 2 if a.topic.startswith("Context") else 1)
    lines = [head, ""]
    for a in ordered:
        mark = "**Warning — " + a.topic + ":**" if a.warning else "**" + a.topic + ":**"
        lines.append(f"- {mark} {a.message}")
    return "\n".join(lines)
