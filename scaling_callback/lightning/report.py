"""What a person sees of a run while it trains, on global rank zero: the forecast in the
progress bar (or one line per validation without a bar), a warning line when an advice
condition starts and another when it ends, the advice as state in the Text tab (`AdviceBoard`),
the forecast figure at the first forecast, every `figure_every` forecasts, at the planned end
and at train end, the throughput tags, and a summary at train end.

It works against a duck-typed trainer (`is_global_zero`, `loggers`, `progress_bar_callback`,
`global_step`) and imports no Lightning namespace.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ..core.advice_board import STOP_TOPIC, AdviceBoard, BoardView
from ..tracking.throughput import Throughput
from .terminal import BarForecast, forecast_line, forecast_text, log, train_end_summary


def tensorboard_loggers(trainer) -> list:
    """The trainer's TensorBoardLoggers (either Lightning namespace)."""
    return [logger for logger in trainer.loggers
            if any(c.__name__ == "TensorBoardLogger" for c in type(logger).__mro__)]


def tensorboard_writers(trainer) -> list:
    """The SummaryWriters of the trainer's TensorBoardLoggers."""
    return [logger.experiment for logger in tensorboard_loggers(trainer)]


class RunReport:
    """The presentation side of a ScalingLawCallback (see the module docstring)."""

    def __init__(self, *, monitor: str, min_delta: float, figure_every: int, progress_bar: bool):
        self.monitor = monitor
        self.figure_every = int(figure_every)
        self.progress_bar = bool(progress_bar)
        self.board = AdviceBoard(min_delta)
        self.throughput = Throughput()
        self.view: Optional[BoardView] = None  # the board after the latest validation
        self.forecast_seconds = 0.0  # wall time spent in forecasts this fit
        self._bar = BarForecast(lambda: self._bar_text)
        self._bar_text: Optional[str] = None
        self._n_ok = 0  # successful forecasts this fit
        self._figure_step: Optional[int] = None  # step of the latest figure drawn
        self._latest = None  # (history, assessment) of the latest successful forecast

    # ---- state kept in checkpoints --------------------------------------------------------
    def state_dict(self) -> Dict[str, object]:
        return {"board": self.board.state_dict()}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        if state and "board" in state:
            self.board.load_state_dict(state["board"])

    # ---- hooks ----------------------------------------------------------------------------
    def train_started(self, trainer, step: int, tokens: int, flops: float) -> None:
        self.throughput.start(step, tokens, flops)
        if self.progress_bar and trainer.is_global_zero:
            self._bar.attach(getattr(trainer, "progress_bar_callback", None))

    def validation_started(self) -> None:
        self.throughput.validation_started()

    def rates(self, step: int, tokens: int, flops: float, planned_end: Optional[int]) -> Dict[str, float]:
        rates = self.throughput.rates(step, tokens, flops, planned_end)
        return {} if rates is None else rates.metrics()

    def assessed(self, trainer, history, assessment, *, planned_tokens: Optional[float],
                 planned_end: Optional[int], warn) -> None:
        """Rank zero, after each assessment: board, terminal, Text tab, figure. `warn(key, msg)`
        reports a failure to write TensorBoard once."""
        record = assessment.record
        self.forecast_seconds += assessment.fit_seconds
        view = self.board.update(assessment, planned_tokens=planned_tokens)
        self.view = view
        for change in view.changes:
            (log.warning if change.kind == "raised" else log.info)(change.line())
        self._bar_text = forecast_text(record) or self._bar_text
        if not self._bar.attached:  # no bar to show it in: one line per validation
            log.info(forecast_line(record, history[-1].val_loss))
        if record.ok:
            self._n_ok += 1
            self._latest = (history, assessment)
        writers = tensorboard_writers(trainer)
        if not writers:
            return
        from ..tensorboard import write_advice_text, write_forecast_layout

        draw = record.ok and self.figure_every > 0 and (
            (self._n_ok - 1) % self.figure_every == 0 or (planned_end is not None and record.step >= planned_end))
        try:
            for writer in writers:
                write_forecast_layout(writer, self.monitor)
                write_advice_text(writer, view.markdown, record.step)
            if draw:
                self._draw(writers, history, assessment, record.step)
        except Exception as exc:  # noqa: BLE001 - the training loop must never see it
            warn("tensorboard", f"writing the forecast to TensorBoard failed at step {record.step} "
                 f"({type(exc).__name__}: {exc}); the scalars are still logged")

    def train_ended(self, trainer, *, history, forecasts, n_params, planned_end, warn) -> None:
        """Rank zero: the figure of the latest forecast where it was not drawn yet, the
        summary in the terminal; the progress bar given back."""
        self._bar.detach()
        if not trainer.is_global_zero or not len(history):
            return
        if self._latest is not None and self.figure_every > 0:
            latest_history, assessment = self._latest
            if self._figure_step != assessment.record.step:
                try:
                    self._draw(tensorboard_writers(trainer), latest_history, assessment, assessment.record.step)
                except Exception as exc:  # noqa: BLE001
                    warn("tensorboard", f"drawing the final forecast figure failed ({type(exc).__name__}: {exc})")
        last = history[-1]
        log.info(train_end_summary(n_params=n_params, tokens=last.tokens, flops=last.flops, step=last.step,
                                   planned_end=planned_end, final_loss=last.val_loss, records=list(forecasts),
                                   advice_lines=self.advice_lines(), forecast_seconds=self.forecast_seconds))

    def advice_lines(self) -> List[str]:
        """The advice that held at the latest validation, one line each."""
        if self.view is None:
            return []
        stop = self.view.stop
        lines = [stop.do + (f" {stop.why}" if stop.since_step is not None else "")]
        lines += [f"{topic} (since step {since})" for topic, since in self.view.active.items()
                  if topic != STOP_TOPIC]
        return lines

    def _draw(self, writers, history, assessment, step: int) -> None:
        from ..plots import forecast_figure_of
        from ..tensorboard import write_figure

        if not writers:
            return
        figure = forecast_figure_of(history, assessment, monitor=self.monitor)
        for writer in writers:
            write_figure(writer, figure, step)
        self._figure_step = step
