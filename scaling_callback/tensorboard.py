"""TensorBoard extras for the forecast: a custom-scalars layout, the advice as text, the figure.

Works on any `torch.utils.tensorboard.SummaryWriter` (Lightning's `TensorBoardLogger.experiment`
is one); no Lightning import. The figure itself is drawn by `plots.forecast_figure`.
"""
from __future__ import annotations

import re
import weakref
from typing import Dict, Optional, Sequence

import numpy as np

from .core import tags

_writers_with_layout: "weakref.WeakSet" = weakref.WeakSet()


def forecast_layout(
    monitor: str = "val_loss",
    *,
    forecast_tags: Sequence[str] = (tags.FINAL_LOSS, tags.ASYMPTOTIC_LOSS),
    category: str = tags.LAYOUT_CATEGORY,
) -> Dict[str, Dict[str, list]]:
    """The custom-scalars layout, in the dict form `SummaryWriter.add_custom_scalars` takes.

    - "final loss forecast (80% interval)": a Margin chart. TensorBoard's MarginChartContent
      series names its value, lower and upper tags exactly (no regex): forecast/final_loss,
      forecast/final_loss_low, forecast/final_loss_high.
    - "observed vs forecast loss": a Multiline chart of the monitored metric and
      `forecast_tags`. Multiline entries are regular expressions the plugin `re.match`es against
      tag names, so each exact tag is escaped and anchored (^...$).
    """
    multiline = [f"^{re.escape(tag)}$" for tag in (monitor, *forecast_tags)]
    return {
        category: {
            "final loss forecast (80% interval)": ["Margin", [tags.FINAL_LOSS, tags.FINAL_LOSS_LOW, tags.FINAL_LOSS_HIGH]],
            "observed vs forecast loss": ["Multiline", multiline],
        }
    }


def write_forecast_layout(
    writer,
    monitor: str = "val_loss",
    *,
    extra_layout: Optional[Dict[str, Dict[str, list]]] = None,
    forecast_tags: Sequence[str] = (tags.FINAL_LOSS, tags.ASYMPTOTIC_LOSS),
    category: str = tags.LAYOUT_CATEGORY,
) -> bool:
    """Write the forecast layout to `writer` once: True when written now, False when this writer
    already has it (later calls are free and write nothing).

    The custom-scalars plugin shows one layout per run, so a user who writes a layout of their
    own to the same writer should pass it as `extra_layout`: its categories are merged into this
    one (its charts join a category of the same title; a chart of the same title replaces ours)
    and written together.
    """
    if writer in _writers_with_layout:
        return False
    layout = forecast_layout(monitor, forecast_tags=forecast_tags, category=category)
    for cat, charts in (extra_layout or {}).items():
        layout.setdefault(cat, {}).update(charts)
    writer.add_custom_scalars(layout)
    _writers_with_layout.add(writer)
    return True


def write_advice_text(writer, markdown: str, step: int, *, tag: str = tags.ADVICE_TEXT) -> None:
    """Write the advice Markdown (see `advice.advice_markdown`) to the Text tab at `step`."""
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, got {type(markdown).__name__}")
    writer.add_text(tag, markdown, global_step=int(step))


def figure_to_array(figure) -> np.ndarray:
    """Render a matplotlib Figure to an (H, W, 3) uint8 RGB array (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_figure(writer, figure, step: int, *, tag: str = tags.FORECAST_FIGURE) -> None:
    """Write a matplotlib Figure (e.g. `forecast_figure(...)`) to the Images tab at `step`."""
    writer.add_image(tag, figure_to_array(figure), global_step=int(step), dataformats="HWC")

