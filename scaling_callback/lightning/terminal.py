"""What the callbacks say in the terminal: the forecast in the progress bar (or one line per
validation without a bar), warnings when they start and end, the gate's stop, a summary at
train end. No Lightning import: the progress bar is any object with `get_metrics(trainer,
module)` (Lightning's TQDM and Rich bars).

Lines go to the logger "scaling_callback" at INFO. Like Lightning does for "lightning.pytorch",
it gets a handler to stderr when the root logger has none, so the lines show without any
logging set-up; configure logging yourself and they follow your settings instead. That handler
writes above the progress bar while a run has one (`route_above_bar`): a line written straight
to the terminal would be glued onto the bar's unfinished line.
"""
from __future__ import annotations

import logging
import math
import sys
from typing import Callable, Dict, Optional, Sequence


def print_above_bar(bar, text: str, stream=None) -> None:
    """Print `text` on a line of its own above a Lightning progress bar.

    A TQDM bar: `tqdm.write`, which clears the bars, writes the line and draws them again; it is
    what `TQDMProgressBar.print` calls, without that method's silence once the bar has closed. A
    Rich bar (or one of your own): its `print`, which Rich's live display puts above the bar."""
    if any(c.__name__ == "TQDMProgressBar" for c in type(bar).__mro__):
        from tqdm import tqdm  # Lightning's dependency, imported only when its bar is in use

        tqdm.write(text, file=stream or sys.stderr)
    else:
        bar.print(text)


class BarAwareHandler(logging.StreamHandler):
    """A stream handler that writes above the progress bar of a running fit, if there is one."""

    def __init__(self, stream=None):
        super().__init__(stream)
        self.bars: Dict[int, object] = {}  # id(owner) -> its trainer's progress bar

    def emit(self, record: logging.LogRecord) -> None:
        if not self.bars:
            return super().emit(record)
        try:
            print_above_bar(next(reversed(self.bars.values())), self.format(record), self.stream)
        except Exception:  # noqa: BLE001 - logging's contract: report, never raise
            self.handleError(record)


log = logging.getLogger("scaling_callback")
HANDLER: Optional[BarAwareHandler] = None  # ours, when the root logger had no handler at import
if not logging.getLogger().hasHandlers() and not log.handlers:
    HANDLER = BarAwareHandler()
    log.setLevel(logging.INFO)
    log.addHandler(HANDLER)
    log.propagate = False


def route_above_bar(owner, bar) -> None:
    """Write `owner`'s lines above `bar` (a Lightning progress bar; None, or a disabled bar:
    stop doing so). Only our own handler can do it; your logging set-up is left as it is."""
    if HANDLER is None:
        return
    if bar is None or getattr(bar, "is_disabled", False) or not callable(getattr(bar, "print", None)):
        HANDLER.bars.pop(id(owner), None)
    else:
        HANDLER.bars[id(owner)] = bar


BAR_KEY = "forecast"  # the progress-bar entry: "forecast=2.43 [2.40, 2.46]"


def forecast_text(record) -> Optional[str]:
    """'2.43 [2.40, 2.46]' for a successful `ForecastRecord`, None otherwise."""
    if record is None or not record.ok or not math.isfinite(record.loss):
        return None
    return f"{record.loss:#.3g} [{record.low:#.3g}, {record.high:#.3g}]"  # '#': 2.40, not 2.4


def forecast_line(record, observed: float) -> str:
    """One line per validation when there is no progress bar."""
    text = forecast_text(record)
    head = f"step {record.step}: {observed:.4g}"
    if text is None:
        return f"{head}; no forecast ({record.reason})"
    return f"{head}; forecast at step {record.target_step}: {text}"


class BarForecast:
    """Adds the latest forecast to a progress bar's metrics while attached.

    Lightning's progress bars show what their `get_metrics(trainer, module)` returns (the
    documented way to change it is to override that method); `attach` wraps the bar's bound
    method so its dict gains `forecast`, and `detach` restores the bar.
    """

    def __init__(self, text: Callable[[], Optional[str]]):
        self._text = text
        self._bar = None

    def attach(self, bar) -> bool:
        """True when `bar` can show the forecast (it has get_metrics)."""
        if bar is None or not callable(getattr(bar, "get_metrics", None)) or self._bar is not None:
            return False
        original = bar.get_metrics

        def get_metrics(trainer, pl_module):
            items = dict(original(trainer, pl_module))
            text = self._text()
            if text is not None:
                items[BAR_KEY] = text
            return items

        bar.get_metrics = get_metrics
        self._bar = bar
        return True

    @property
    def attached(self) -> bool:
        return self._bar is not None

    def detach(self) -> None:
        if self._bar is not None:
            self._bar.__dict__.pop("get_metrics", None)
            self._bar = None


def latest_by(records: Sequence, step: float):
    """The latest successful forecast made at or before `step`, or None."""
    made = [r for r in records if r.ok and r.step <= step]
    return made[-1] if made else None


def train_end_summary(*, n_params, tokens, flops, step, planned_end, final_loss, records, advice_lines,
                      forecast_seconds, fractions=(0.25, 0.5, 0.75)) -> str:
    """The summary printed at train end: N, D, C, the final loss beside the latest forecast made
    by each of `fractions` of the planned run (labelled with the step and share it was really
    made at: validations rarely fall on 25% exactly), the advice that held at the end, time spent
    forecasting."""
    lines = [f"scaling-callback: N = {n_params:,} non-embedding parameters, D = {tokens:,} tokens, "
             f"C = {flops:.3e} FLOPs at step {step}"]
    if planned_end:
        shares = ", ".join(f"{f:.0%}" for f in fractions)
        lines.append(f"  final loss {final_loss:.4f} at step {step}; the forecasts of the loss at step {planned_end} "
                     f"made last by {shares} of the run:")
        shown = set()
        for fraction in fractions:
            at = fraction * planned_end
            r = latest_by(records, at)
            if step < at:
                lines.append(f"    by {fraction:.0%} of the run: not reached")
            elif r is None:
                reason = next((x.reason for x in reversed(list(records)) if x.step <= at), "no validation yet")
                lines.append(f"    by {fraction:.0%} of the run: none ({reason})")
            elif r.step not in shown:
                shown.add(r.step)
                lines.append(f"    at step {r.step} ({r.step / planned_end:.0%} of the run): {forecast_text(r)}")
    lines += [f"  advice at the end: {line}" for line in advice_lines]
    lines.append(f"  time spent forecasting: {forecast_seconds:.2f} s")
    return "\n".join(lines)
