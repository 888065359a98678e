"""TensorBoard extras for the forecast: a custom-scalars layout, the advice as text, the figure.

Works on any `torch.utils.tensorboard.SummaryWriter` (Lightning's `TensorBoardLogger.experiment`
is one); no Lightning import. The figure itself is drawn by `plots.forecast_figure`.
"""
from __future__ import annotations

import weakref
from typing import Dict, Optional

import numpy as np

from .core import tags

# writer -> (the layout written to it, the keys of the forecast layouts it holds); TensorBoard shows
# the latest layout of a run directory, so each forecast layout added rewrites the merged whole
_layouts_written: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
        for name, (kind, names) in charts.items():
            if kind == "Margin":
                if len(names) != 3:
                    raise ValueError(f"chart {name!r}: a Margin chart takes [value, lower, upper] tags, got {names!r}")
                made.append(_margin_chart(name, tuple(names)))
            else:
                made.append(_multiline_chart(name, names))
        categories.append(layout_pb2.Category(title=title, chart=made))
    return layout_pb2.Layout(category=categories)


def forecast_layout(monitor: str = "val_loss", *, category: str = tags.LAYOUT_CATEGORY, extra_charts=(),
                    suffix: Optional[str] = None, trend: bool = False):
    """The custom-scalars layout (a `layout_pb2.Layout`): one category, shown first, of three
    Margin charts, in this order on screen:

    - "<monitor> ■ and the forecast of its final value ◆, 80% band": the monitored metric
      (drawn as a line) and forecast/final_loss between forecast/final_loss_low and
      forecast/final_loss_high (the band), so the forecast reads against the curve it comes
      from;
    - "recommended stop ■ and planned end ◆ (steps)": advice/recommended_stop_step and
      forecast/final_step;
    - "forecast of the final loss ■ and asymptote ◆": forecast/final_loss and
      forecast/asymptotic_loss;
    - with `trend` (the callback was given a cross-run law, `fit=`): "forecast of the final loss ■
      (80% band) and the family's law ◆ (its interval)": forecast/final_loss with its band beside
      trend/expected_loss with the law's, so a run off its family's trend shows as bands apart.

    Margin charts because TensorBoard never smooths them (800 reads 800, whatever the smoothing
    slider says) and because it keeps their order; the custom-scalars dashboard (TensorBoard
    2.21, seen in Chromium) puts Multiline charts before Margin charts and lays Margin charts
    out last first, so they are listed reversed. The plugin draws every series of a run in that
    run's colour and tells the series apart by marker (■, ◆ in the order given) and in the
    tooltip, so the titles name the markers. `extra_charts`: more Chart protos for the same
    category (a Margin chart is shown after ours). `suffix`: the instance's, when several
    callbacks share the Trainer (`tags.for_instance`); the category's title then ends with it, so
    that each instance's charts have a category of their own in the merged layout.
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    final, low, high, stop, end, asymptote = (tags.for_instance(t, suffix) for t in (
        tags.FINAL_LOSS, tags.FINAL_LOSS_LOW, tags.FINAL_LOSS_HIGH, tags.RECOMMENDED_STOP, tags.FINAL_STEP,
        tags.ASYMPTOTIC_LOSS))
    charts = [
        _margin_chart(f"{monitor} ■ and the forecast of its final value ◆, 80% band", monitor, (final, low, high)),
        _margin_chart("recommended stop ■ and planned end ◆ (steps)", stop, end),
        _margin_chart("forecast of the final loss ■ and asymptote ◆", final, asymptote),
    ]
    if trend:
        expected, expected_low, expected_high = (tags.for_instance(t, suffix) for t in (
            tags.TREND_EXPECTED, tags.TREND_EXPECTED_LOW, tags.TREND_EXPECTED_HIGH))
        charts.append(_margin_chart("forecast of the final loss ■ (80% band) and the family's law ◆ (its interval)",
                                    (final, low, high), (expected, expected_low, expected_high)))
    title = category if suffix is None else f"{category} ({suffix})"
    return layout_pb2.Layout(category=[layout_pb2.Category(title=title, chart=list(extra_charts) + charts[::-1])])


def cooldown_now_chart(suffix: Optional[str] = None):
    """The Margin chart "cool down now ■ and the planned end ◆, 80% bands": the forecast at the end
    of a cool-down started at each validation (whatif/cooldown_now_loss and its interval) beside
    the forecast at the planned end (forecast/final_loss and its); for `write_forecast_layout`'s
    `extra_charts`."""
    now = tuple(tags.for_instance(t, suffix) for t in (tags.COOLDOWN_NOW_LOSS, tags.COOLDOWN_NOW_LOW,
                                                        tags.COOLDOWN_NOW_HIGH))
    planned = tuple(tags.for_instance(t, suffix) for t in (tags.FINAL_LOSS, tags.FINAL_LOSS_LOW, tags.FINAL_LOSS_HIGH))
    return _margin_chart("cool down now ■ and the planned end ◆, 80% bands", now, planned)


def layout_summary(layout):
    """The Summary proto that carries a custom-scalars Layout (any number of Margin series,
    which `SummaryWriter.add_custom_scalars`'s dict form cannot say)."""
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto

    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="custom_scalars"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[layout.SerializeToString()], tensor_shape=TensorShapeProto())
    return Summary(value=[Summary.Value(tag=tags.LAYOUT_SUMMARY, tensor=tensor, metadata=metadata)])


def write_forecast_layout(
    writer,
    monitor: str = "val_loss",
    *,
    extra_layout: Optional[Dict[str, Dict[str, list]]] = None,
    extra_charts=(),
    category: str = tags.LAYOUT_CATEGORY,
    suffix: Optional[str] = None,
    trend: bool = False,
) -> bool:
    """Write the forecast layout to `writer` once per instance (`suffix`): True when written now,
    False when this writer already has it (later calls are free and write nothing).

    The custom-scalars plugin shows one layout per run (the latest written), so the layouts of
    several callbacks writing to one run (each with its `suffix`, `tags.for_instance`) are merged:
    each new one rewrites the whole, its category after the others. A user who writes a layout
    of their own to the same writer passes it as `extra_layout` (the dict form of
    `SummaryWriter.add_custom_scalars`): its categories follow ours (charts of a category of
    our title join ours). `extra_charts`: Chart protos added to our category. `trend`: the
    chart of the forecast beside the family's law (`forecast_layout`).
    """
    from tensorboard.plugins.custom_scalar import layout_pb2

    written, keys = _layouts_written.get(writer, (layout_pb2.Layout(), set()))
    if suffix in keys:
        return False
    layout = forecast_layout(monitor, category=category, extra_charts=extra_charts, suffix=suffix, trend=trend)
    for cat in _layout_of_dict(extra_layout or {}).category:
        mine = next((c for c in layout.category if c.title == cat.title), None)
        if mine is None:
            layout.category.append(cat)
        else:
            mine.chart.extend(cat.chart)
    merged = layout_pb2.Layout(category=[*written.category, *layout.category])
    writer._get_file_writer().add_summary(layout_summary(merged))
    _layouts_written[writer] = (merged, keys | {suffix})
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

