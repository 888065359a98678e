"""TensorBoard extras for the forecast: a custom-scalars layout, the advice as text, a figure.

Works on any `torch.utils.tensorboard.SummaryWriter` (Lightning's `TensorBoardLogger.experiment`
is one); no Lightning import. matplotlib (the `plot` extra) is imported only when a figure is
drawn.
"""
from __future__ import annotations

import re
import weakref
from typing import Dict, Optional, Sequence

import numpy as np

# scalar tags the forecast is logged under; the Margin chart names them exactly
FINAL_LOSS_TAG = "forecast/final_loss"
FINAL_LOSS_LOW_TAG = "forecast/final_loss_low"
FINAL_LOSS_HIGH_TAG = "forecast/final_loss_high"
ASYMPTOTIC_LOSS_TAG = "forecast/asymptotic_loss"
# the advice text panel (TensorBoard stores it as f"{ADVICE_TEXT_TAG}/text_summary")
ADVICE_TEXT_TAG = "advice/summary"
FORECAST_FIGURE_TAG = "forecast/figure"
LAYOUT_CATEGORY = "scaling-callback"

_writers_with_layout: "weakref.WeakSet" = weakref.WeakSet()


def forecast_layout(
    monitor: str = "val_loss",
    *,
    forecast_tags: Sequence[str] = (FINAL_LOSS_TAG, ASYMPTOTIC_LOSS_TAG),
    category: str = LAYOUT_CATEGORY,
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
            "final loss forecast (80% interval)": ["Margin", [FINAL_LOSS_TAG, FINAL_LOSS_LOW_TAG, FINAL_LOSS_HIGH_TAG]],
            "observed vs forecast loss": ["Multiline", multiline],
        }
    }


def write_forecast_layout(
    writer,
    monitor: str = "val_loss",
    *,
    extra_layout: Optional[Dict[str, Dict[str, list]]] = None,
    forecast_tags: Sequence[str] = (FINAL_LOSS_TAG, ASYMPTOTIC_LOSS_TAG),
    category: str = LAYOUT_CATEGORY,
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


def write_advice_text(writer, markdown: str, step: int, *, tag: str = ADVICE_TEXT_TAG) -> None:
    """Write the advice Markdown (see `advice.advice_markdown`) to the Text tab at `step`."""
    if not isinstance(markdown, str):
        raise TypeError(f"markdown must be a str, got {type(markdown).__name__}")
    writer.add_text(tag, markdown, global_step=int(step))


def _matplotlib_figure_class():
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("the forecast figure needs matplotlib: pip install 'scaling-callback[plot]' "
                          "(or pip install matplotlib)") from exc
    return Figure


def _positive_points(name: str, steps, values):
    s = np.asarray(steps, dtype=float).ravel()
    v = np.asarray(values, dtype=float).ravel()
    if s.shape != v.shape:
        raise ValueError(f"{name}: steps and values differ in length ({s.size} vs {v.size})")
    keep = np.isfinite(s) & np.isfinite(v) & (s > 0) & (v > 0)  # log axes show positive points only
    return s[keep], v[keep]


def forecast_figure(
    observed_steps,
    observed_loss,
    *,
    fit_steps=None,
    fit_loss=None,
    band_steps=None,
    band_low=None,
    band_high=None,
    stop_step: Optional[int] = None,
    planned_end: Optional[int] = None,
    monitor: str = "val_loss",
    title: Optional[str] = None,
):
    """A matplotlib Figure of the forecast on log-log axes: observed points, the fitted curve
    (`fit_steps`, `fit_loss`: over the observed range and beyond), the extrapolation band
    (`band_steps`, `band_low`, `band_high`: e.g. the 80% interval), the recommended stop and
    the planned end as vertical lines. Plain arrays in, so it needs no forecast object.

    Only positive, finite points can sit on log axes; others are left out. Built without pyplot
    (no GUI backend, no global figure registry). Raises ImportError with the install hint when
    matplotlib is missing, ValueError when no observed point can be drawn.
    """
    Figure = _matplotlib_figure_class()
    s, v = _positive_points("observed", observed_steps, observed_loss)
    if s.size == 0:
        raise ValueError("no positive, finite observed point to draw on log axes")
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    if band_steps is not None:
        bs, lo = _positive_points("band_low", band_steps, band_low)
        bs2, hi = _positive_points("band_high", band_steps, band_high)
        if bs.size and np.array_equal(bs, bs2):
            ax.fill_between(bs, lo, hi, color="tab:orange", alpha=0.25, linewidth=0,
                            label="forecast interval")
    if fit_steps is not None:
        fs, fv = _positive_points("fit", fit_steps, fit_loss)
        if fs.size:
            ax.plot(fs, fv, color="tab:orange", linewidth=1.5, label="fitted curve")
    ax.plot(s, v, "o", color="tab:blue", markersize=3, label=f"observed {monitor}")
    if stop_step is not None and stop_step > 0:
        ax.axvline(stop_step, color="tab:green", linestyle="--", linewidth=1,
                   label=f"recommended stop ({int(stop_step)})")
    if planned_end is not None and planned_end > 0:
        ax.axvline(planned_end, color="grey", linestyle=":", linewidth=1, label=f"planned end ({int(planned_end)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # losses span a narrow range: plain numbers read better (and draw faster) than 2.5×10⁰ mathtext
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda y, _: f"{y:.3g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(monitor)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    # fixed margins: tight_layout measures every tick label first and would double the drawing time
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.12, top=0.92 if title else 0.97)
    return fig


def figure_to_array(figure) -> np.ndarray:
    """Render a matplotlib Figure to an (H, W, 3) uint8 RGB array (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_figure(writer, figure, step: int, *, tag: str = FORECAST_FIGURE_TAG) -> None:
    """Write a matplotlib Figure (e.g. `forecast_figure(...)`) to the Images tab at `step`."""
    writer.add_image(tag, figure_to_array(figure), global_step=int(step), dataformats="HWC")

