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

# scalar tags the forecast is logged under; the charts name them exactly
FINAL_LOSS_TAG = "forecast/final_loss"
FINAL_LOSS_LOW_TAG = "forecast/final_loss_low"
FINAL_LOSS_HIGH_TAG = "forecast/final_loss_high"
ASYMPTOTIC_LOSS_TAG = "forecast/asymptotic_loss"
FINAL_STEP_TAG = "forecast/final_step"
RECOMMENDED_STOP_TAG = "advice/recommended_stop_step"
# the advice text panel (TensorBoard stores it as f"{ADVICE_TEXT_TAG}/text_summary")
ADVICE_TEXT_TAG = "advice/summary"
FORECAST_FIGURE_TAG = "forecast/figure"
LAYOUT_CATEGORY = "scaling-callback: where the run ends"
# the custom-scalars plugin's own name for the layout record (custom_scalar/metadata.py)
LAYOUT_SUMMARY_TAG = "custom_scalars__config__"

_writers_with_layout: "weakref.WeakSet" = weakref.WeakSet()


def _margin_chart(title: str, *series):
    """A Margin chart: each series is (value, lower, upper) tags, or one tag drawn as a line
    (value = lower = upper). TensorBoard does not smooth Margin charts, whatever the smoothing
    slider says, so step-valued tags read exactly there."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    parts = [(s, s, s) if isinstance(s, str) else tuple(s) for s in series]
    content = layout_pb2.MarginChartContent(series=[
        layout_pb2.MarginChartContent.Series(value=v, lower=lo, upper=hi) for v, lo, hi in parts])
    return layout_pb2.Chart(title=title, margin=content)


def _multiline_chart(title: str, regexes):
    from tensorboard.plugins.custom_scalar import layout_pb2

    return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(regexes)))


def _layout_of_dict(layout: Dict[str, Dict[str, list]]):
    """A layout in `SummaryWriter.add_custom_scalars`'s dict form as a Layout proto."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    categories = []
    for title, charts in layout.items():
        made = []
        for name, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"chart {name!r}: a Margin chart takes [value, lower, upper] tags, got {tags!r}")
                made.append(_margin_chart(name, tuple(tags)))
            else:
                made.append(_multiline_chart(name, tags))
        categories.append(layout_pb2.Category(title=title, chart=made))
    return layout_pb2.Layout(category=categories)


def forecast_layout(monitor: str = "val_loss", *, category: str = LAYOUT_CATEGORY, extra_charts=()):
    """The custom-scalars layout (a `layout_pb2.Layout`): one category, shown first, with

    - "<monitor> ■ and the forecast of its final value ◆, 80% band": a Margin chart with two
      series, the monitored metric (drawn as a line) and forecast/final_loss between
      forecast/final_loss_low and forecast/final_loss_high (the band), so the forecast reads
      against the curve it comes from;
    - "recommended stop ■ and planned end ◆ (steps, unsmoothed)": a Margin chart of
      advice/recommended_stop_step and forecast/final_step (Margin charts are not smoothed:
      800 reads 800);
    - "<monitor> ■, forecast ◆ and asymptote ▲": a Multiline chart of the monitored metric,
      forecast/final_loss and forecast/asymptotic_loss (regexes, each tag escaped and
      anchored ^...$).

    The custom-scalars plugin draws every series of a run in that run's colour and tells the
    series apart by marker (■, ◆, ▲ in the order given) and in the tooltip, so the titles
    name the markers. `extra_charts`: more Chart protos for the same category, shown after.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    charts = [
        _margin_chart(f"{monitor} ■ and the forecast of its final value ◆, 80% band",
                      monitor, (FINAL_LOSS_TAG, FINAL_LOSS_LOW_TAG, FINAL_LOSS_HIGH_TAG)),
        _margin_chart("recommended stop ■ and planned end ◆ (steps, unsmoothed)", RECOMMENDED_STOP_TAG, FINAL_STEP_TAG),
        _multiline_chart(f"{monitor} ■, forecast ◆ and asymptote ▲",
                         [f"^{re.escape(tag)}$" for tag in (monitor, FINAL_LOSS_TAG, ASYMPTOTIC_LOSS_TAG)]),
        *extra_charts,
    ]
    # the plugin (TensorBoard 2.21, seen in Chromium) lays a category's charts out last first
    return layout_pb2.Layout(category=[layout_pb2.Category(title=category, chart=charts[::-1])])


def layout_summary(layout):
    """The Summary proto that carries a custom-scalars Layout (any number of Margin series,
    which `SummaryWriter.add_custom_scalars`'s dict form cannot say)."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag=LAYOUT_SUMMARY_TAG, tensor=tensor, metadata=metadata)])


def write_forecast_layout(
    writer,
    monitor: str = "val_loss",
    *,
    extra_layout: Optional[Dict[str, Dict[str, list]]] = None,
    extra_charts=(),
    category: str = LAYOUT_CATEGORY,
) -> bool:
    """Write the forecast layout to `writer` once: True when written now, False when this writer
    already has it (later calls are free and write nothing).

    The custom-scalars plugin shows one layout per run, so a user who writes a layout of their
    own to the same writer passes it as `extra_layout` (the dict form of
    `SummaryWriter.add_custom_scalars`): its categories follow ours (charts of a category of
    our title join ours). `extra_charts`: Chart protos added to our category.
    """
    if writer in _writers_with_layout:
        return False
    layout = forecast_layout(monitor, category=category, extra_charts=extra_charts)
    for cat in _layout_of_dict(extra_layout or {}).category:
        mine = next((c for c in layout.category if c.title == cat.title), None)
        if mine is None:
            layout.category.append(cat)
        else:
            mine.chart.extend(cat.chart)
    writer._get_file_writer().add_summary(layout_summary(layout))
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
        raise ImportError("the forecast figure needs matplotlib (a dependency of scaling-callback that is "
                          "missing here): pip install matplotlib") from exc
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
    _readable_ticks(ax)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(monitor)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    # fixed margins: tight_layout measures every tick label first and would double the drawing time
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.12, top=0.92 if title else 0.97)
    return fig


def _readable_ticks(ax) -> None:
    """Plain numbers on both log axes: steps at 1, 2, 5 times powers of ten (a run of 50 to 800
    steps gets 50, 100, 200, 500 rather than one "10²"), losses at about six round values of
    their narrow range (rather than 2×10⁰ or none at all). Plain text also draws faster than
    mathtext."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(NullFormatter())
    low, high = ax.get_ylim()
    ticks = [t for t in MaxNLocator(6).tick_values(low, high) if low <= t <= high and t > 0]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def figure_to_array(figure) -> np.ndarray:
    """Render a matplotlib Figure to an (H, W, 3) uint8 RGB array (Agg canvas, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def write_figure(writer, figure, step: int, *, tag: str = FORECAST_FIGURE_TAG) -> None:
    """Write a matplotlib Figure (e.g. `forecast_figure(...)`) to the Images tab at `step`."""
    writer.add_image(tag, figure_to_array(figure), global_step=int(step), dataformats="HWC")

