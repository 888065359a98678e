"""What a person sees of a run in the terminal, on global rank zero: the forecast in the
progress bar (or one line per validation without a bar), a line when an advice condition starts
and another when it ends, and a summary at train end. The advice state, the throughput and the
TensorBoard extras are the tracker's (`tracking.tracker.ScalingTracker`); this reads them.

It works against a duck-typed trainer (`is_global_zero`, `loggers`, `progress_bar_callback`)
and imports no Lightning namespace.
"""
from __future__ import annotations

from typing import List, Optional

from ..core.advice.board import STOP_TOPIC, BoardView
from .terminal import BarForecast, forecast_line, forecast_text, log, route_above_bar, train_end_summary


def tensorboard_loggers(trainer) -> list:
    """The trainer's TensorBoardLoggers (either Lightning namespace)."""
    return [logger for logger in trainer.loggers
            if any(c.__name__ == "TensorBoardLogger" for c in type(logger).__mro__)]


def logger_dirs(trainer) -> tuple:
    """The log dirs of the trainer's loggers that write locally (a logger without one, or whose
    directory cannot be had, is passed over)."""
    found = []
    for logger in trainer.loggers:
        try:
            log_dir = getattr(logger, "log_dir", None)
        except Exception:  # noqa: BLE001 - a third-party logger's property: its directory is not needed
            log_dir = None
        if isinstance(log_dir, str) and log_dir:
            found.append(log_dir)
    return tuple(found)


def tensorboard_writers(trainer) -> list:
    """The SummaryWriters of the trainer's TensorBoardLoggers."""
    return [logger.experiment for logger in tensorboard_loggers(trainer)]


class TerminalReport:
    """The terminal side of a ScalingLawCallback (see the module docstring)."""

    def __init__(self, progress_bar: bool):
        self.progress_bar = bool(progress_bar)
        self._bar = BarForecast(lambda: self._bar_text)
        self._bar_text: Optional[str] = None

    def train_started(self, trainer) -> None:
        if trainer.is_global_zero:
            bar = getattr(trainer, "progress_bar_callback", None)
            route_above_bar(self, bar)  # lines above the bar, not glued onto it
            if self.progress_bar:
                self._bar.attach(bar)

    def forecast_made(self, record, advice: Optional[BoardView], observed: float) -> None:
        """Rank zero, after each forecast: the advice's changes, the bar or one line."""
        for change in advice.changes if advice is not None else ():
            (log.warning if change.kind == "raised" else log.info)(change.line())
        self._bar_text = forecast_text(record) or self._bar_text
        if not self._bar.attached:
            log.info(forecast_line(record, observed))

    def train_ended(self, trainer, tracker) -> None:
        """Rank zero: the summary (above the bar, still open); then the progress bar given back
        (every rank)."""
        history = tracker.history
        if trainer.is_global_zero and len(history):
            last = history[-1]
            log.info(train_end_summary(n_params=tracker.n_params, tokens=last.tokens, flops=last.flops, step=last.step,
                                       planned_end=tracker.planned_steps, final_loss=last.val_loss,
                                       records=list(tracker.forecasts), advice_lines=advice_lines(tracker.advice),
                                       forecast_seconds=tracker.forecast_seconds))
        self._bar.detach()
        route_above_bar(self, None)


def advice_lines(view: Optional[BoardView]) -> List[str]:
    """The advice that held at the latest validation, one line each."""
    if view is None:
        return []
    stop = view.stop
    lines = [stop.do + (f" {stop.why}" if stop.since_step is not None else "")]
    lines += [f"{topic} (since step {since})" for topic, since in view.active.items() if topic != STOP_TOPIC]
    return lines
