"""TensorBoard extras written to real event files and read back the way TensorBoard reads them."""
import json
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar.custom_scalars_plugin import CustomScalarsPlugin
from tensorboard.plugins.scalar.scalars_plugin import ScalarsPlugin
from tensorboard import context as tb_context
from torch.utils.tensorboard import SummaryWriter

from scaling_callback.core.advice import advice_markdown, data_limit, repeated_data
from scaling_callback.io import read_scalars
from scaling_callback.core.tags import (
    ADVICE_TEXT as ADVICE_TEXT_TAG, FINAL_LOSS as FINAL_LOSS_TAG, FINAL_LOSS_HIGH as FINAL_LOSS_HIGH_TAG,
    FINAL_LOSS_LOW as FINAL_LOSS_LOW_TAG, FORECAST_FIGURE as FORECAST_FIGURE_TAG,
)
from scaling_callback.plots import forecast_figure
from scaling_callback.tensorboard import (
    figure_to_array, forecast_layout, write_advice_text, write_figure, write_forecast_layout,
)

ALL = {"scalars": 0, "tensors": 0, "images": 0}


def _accumulator(logdir):
    files = sorted(p for p in logdir.rglob("*tfevents*"))
    assert len(files) == 1
    acc = EventAccumulator(str(files[0]), size_guidance=ALL)
    acc.Reload()
    return acc


def _log_forecast(writer, monitor="val_loss"):
    for step, (val, mid) in enumerate([(3.0, 2.6), (2.8, 2.55), (2.7, 2.52)]):
        writer.add_scalar(monitor, val, (step + 1) * 100)
        writer.add_scalar(FINAL_LOSS_TAG, mid, (step + 1) * 100)
        writer.add_scalar(FINAL_LOSS_LOW_TAG, mid - 0.1, (step + 1) * 100)
        writer.add_scalar(FINAL_LOSS_HIGH_TAG, mid + 0.1, (step + 1) * 100)
        writer.add_scalar("forecast/asymptotic_loss", 2.2, (step + 1) * 100)
        writer.add_scalar("val_loss_other", 9.9, (step + 1) * 100)  # must not match ^val_loss$


def _plugins(logdir):
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    provider = data_provider.MultiplexerDataProvider(mux, str(logdir))
    instances = {}
    tb = base_plugin.TBContext(logdir=str(logdir), multiplexer=mux, data_provider=provider,
                               plugin_name_to_instance=instances)
    instances["scalars"] = ScalarsPlugin(tb)
    return provider, CustomScalarsPlugin(tb)


def test_layout_written_once_and_read_by_the_custom_scalars_plugin(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    assert write_forecast_layout(writer) is True
    assert write_forecast_layout(writer) is False  # once per writer
    _log_forecast(writer)
    writer.close()

    acc = _accumulator(tmp_path)
    events = acc.Tensors("custom_scalars__config__")
    assert len(events) == 1
    assert acc.SummaryMetadata("custom_scalars__config__").plugin_data.plugin_name == "custom_scalars"
    layout = layout_pb2.Layout()
    layout.ParseFromString(events[0].tensor_proto.string_val[0])
    (category,) = layout.category
    margin = next(c for c in category.chart if c.HasField("margin") and "band" in c.title)
    observed, series = margin.margin.series  # the curve and the forecast band in one chart
    assert (observed.value, observed.lower, observed.upper) == ("val_loss",) * 3
    assert (series.value, series.lower, series.upper) == (
        "forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high")
    assert category.chart[-1].title == margin.title  # drawn first: the plugin lays charts out last first

    # what the dashboard does: list the plugin, fetch the layout, then each chart's data
    ctx = tb_context.RequestContext()
    provider, plugin = _plugins(tmp_path)
    assert "custom_scalars" in provider.list_plugins(ctx, experiment_id="")
    served = json.loads(plugin.layout_impl(ctx, ""))
    assert served["category"][0]["title"] == "scaling-callback: where the run ends"
    for tag in (series.value, series.lower, series.upper):  # Margin series are exact tag names
        body, _ = plugin.download_data_impl(ctx, ".", tag, "", "json")
        assert [point[1] for point in body] == [100, 200, 300]  # [wall_time, step, value] rows
    # every chart is a Margin chart (never smoothed) and every tag it names exists exactly
    assert all(c.HasField("margin") for c in category.chart)
    named = {tag for c in category.chart for s in c.margin.series for tag in (s.value, s.lower, s.upper)}
    assert named == {"val_loss", "forecast/final_loss", "forecast/final_loss_low", "forecast/final_loss_high",
                     "forecast/asymptotic_loss", "advice/recommended_stop_step", "forecast/final_step"}
    for tag in named - {"advice/recommended_stop_step", "forecast/final_step"}:  # not logged by this test
        body, _ = plugin.download_data_impl(ctx, ".", tag, "", "json")
        assert len(body) == 3

    # and the scalars themselves, through the project's one reader
    scalars = read_scalars(str(tmp_path))
    np.testing.assert_allclose(scalars[FINAL_LOSS_LOW_TAG][1], [2.5, 2.45, 2.42], rtol=1e-6)


def test_layout_merges_a_user_layout_and_names_the_monitor(tmp_path):
    layout = forecast_layout("val/loss(ppl)")
    band = layout.category[0].chart[-1]  # listed last, shown first
    assert band.title.startswith("val/loss(ppl) ■") and band.margin.series[0].value == "val/loss(ppl)"
    writer = SummaryWriter(str(tmp_path))
    mine = {"mine": {"grad norm": ["Multiline", ["^grad_norm$"]]}}
    assert write_forecast_layout(writer, "val/loss(ppl)", extra_layout=mine)
    writer.close()
    acc = _accumulator(tmp_path)
    parsed = layout_pb2.Layout()
    parsed.ParseFromString(acc.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0])
    assert [c.title for c in parsed.category] == ["scaling-callback: where the run ends", "mine"]


def test_a_second_writer_gets_its_own_layout(tmp_path):
    first, second = SummaryWriter(str(tmp_path / "a")), SummaryWriter(str(tmp_path / "b"))
    assert write_forecast_layout(first) and write_forecast_layout(second)
    first.close()
    second.close()
    for sub in ("a", "b"):
        assert len(_accumulator(tmp_path / sub).Tensors("custom_scalars__config__")) == 1


def test_advice_text_panel(tmp_path):
    text = advice_markdown([data_limit(1e9, 1e8), repeated_data(6e9, 1e9)], step=300)
    writer = SummaryWriter(str(tmp_path))
    write_advice_text(writer, "### Training advice at step 100\n\nNo advice yet.", 100)
    write_advice_text(writer, text, 300)
    writer.close()
    acc = _accumulator(tmp_path)
    tag = ADVICE_TEXT_TAG + "/text_summary"
    assert acc.SummaryMetadata(tag).plugin_data.plugin_name == "text"
    events = acc.Tensors(tag)
    assert [e.step for e in events] == [100, 300]
    assert events[1].tensor_proto.string_val[0].decode() == text
    with pytest.raises(TypeError):
        write_advice_text(SummaryWriter(str(tmp_path / "x")), 3.0, 1)


def test_forecast_figure_written_as_an_image(tmp_path):
    steps = np.arange(100, 2001, 100)
    observed = 2.0 + 20 * steps ** -0.5
    future = np.arange(100, 10_001, 100)
    fit = 2.0 + 20 * future ** -0.5
    fig = forecast_figure(steps, observed, fit_steps=future, fit_loss=fit, band_steps=future[19:],
                          band_low=fit[19:] - 0.05, band_high=fit[19:] + 0.05, stop_step=6000,
                          planned_end=10_000, title="forecast at step 2000")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(labels) == sorted(["fitted curve", "observed val_loss", "recommended stop (6000)",
                                     "planned end (10000)", "forecast interval (2.15–2.25)"])  # at the planned end
    image = figure_to_array(fig)
    assert image.shape == (600, 960, 3) and image.dtype == np.uint8 and image.std() > 0

    writer = SummaryWriter(str(tmp_path))
    write_figure(writer, fig, 2000)
    writer.close()
    (event,) = _accumulator(tmp_path).Images(FORECAST_FIGURE_TAG)
    assert event.step == 2000 and (event.width, event.height) == (960, 600)
    assert event.encoded_image_string[:8] == b"\x89PNG\r\n\x1a\n"


def test_figure_leaves_out_what_log_axes_cannot_show():
    fig = forecast_figure([0, 10, 20, 30], [np.nan, 2.0, -1.0, 1.5])
    (line,) = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [10, 30])
    with pytest.raises(ValueError, match="no positive"):
        forecast_figure([0, 1], [np.nan, -2.0])


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an absent package looks like to import
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        forecast_figure([1, 2], [3.0, 2.0])


def test_works_on_lightning_tensorboard_logger(tmp_path):
    loggers = pytest.importorskip("lightning.pytorch.loggers")
    logger = loggers.TensorBoardLogger(str(tmp_path), name="run", version=0)
    assert write_forecast_layout(logger.experiment)
    assert not write_forecast_layout(logger.experiment)
    logger.log_metrics({FINAL_LOSS_TAG: 2.5, FINAL_LOSS_LOW_TAG: 2.4, FINAL_LOSS_HIGH_TAG: 2.6}, step=7)
    write_advice_text(logger.experiment, "text", 7)
    logger.finalize("success")
    scalars = read_scalars(str(tmp_path))
    assert {FINAL_LOSS_TAG, FINAL_LOSS_LOW_TAG, FINAL_LOSS_HIGH_TAG} <= set(scalars)
    assert scalars[FINAL_LOSS_TAG][0].tolist() == [7]
    acc = _accumulator(tmp_path / "run" / "version_0")
    assert len(acc.Tensors("custom_scalars__config__")) == 1
