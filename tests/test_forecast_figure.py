"""The forecast figure of the Images tab: readable where TensorBoard shows it (a card about 430 px
wide), its interval visible at the end of a run, and a title that says what was reached there."""
import math

import numpy as np

from scaling_callback.core.assess import assess
from scaling_callback.core.history import History, Observation
from scaling_callback.plots import forecast_figure_of

TB_CARD_PX = 430  # width TensorBoard's Images tab gives an image, unless "Show actual image size"


def _curve(last):
    return History(Observation(s, s * 8, 1.0, 2.4 + 8 * (s + 20) ** -0.6 + 0.003 * math.sin(s), math.nan)
                   for s in range(50, last + 1, 50))


def _figure(last):
    history = _curve(last)
    return forecast_figure_of(history, assess(history, target_step=800)), history


def test_the_final_figure_says_what_was_reached_and_shows_its_interval():
    fig, history = _figure(800)
    (ax,) = fig.axes
    title = ax.get_title()
    assert title.startswith("step 800 (planned end): reached ")
    assert f"reached {history.column('val_loss')[-1]:.4g}" in title and "at step 800" not in title
    # the band is as thin as a line at the end: the interval is drawn as a bar at the planned end
    bar = [line for line in ax.get_legend().get_texts() if line.get_text().startswith("forecast interval (")]
    assert len(bar) == 1
    assert not any(t.get_text().startswith("recommended stop") for t in ax.get_legend().get_texts())


def test_the_figure_is_readable_in_a_tensorboard_card():
    fig, _ = _figure(400)
    (ax,) = fig.axes
    width_px = fig.get_figwidth() * fig.dpi
    assert width_px >= 900  # sharp at its actual size
    shrink = TB_CARD_PX / width_px
    for text in [ax.xaxis.label, ax.yaxis.label, *ax.get_xticklabels(), *ax.get_legend().get_texts()]:
        shown_px = text.get_fontsize() * fig.dpi / 72 * shrink
        assert shown_px >= 10, (text.get_text(), shown_px)  # it was 9 px for the axis labels, 7.6 px in the legend
    assert ax.get_title().startswith("at step 400, for step 800: ")
    assert np.isfinite(ax.get_xlim()).all()
