"""Advice as state, not noise: which warnings hold now and since when, the stop decision with
hysteresis, and the text a person reads first (core: no torch, no framework).

`assess` (tracking) judges one validation on its own; an `AdviceBoard` remembers the previous
ones. A warning is *raised* at the validation where its condition starts (a `Change` the caller
prints once), shown afterwards as current state ("since step S"), and *cleared* (another
`Change`) when the condition ends. The stop decision "stop now" is entered when the forecast
curve gains less than `min_delta` from now to the planned end and even the optimistic (low) end
of its interval does (the rule of `ForecastEarlyStopping`, which then waits `patience`
validations), and left only when even the pessimistic (high) end of the forecast interval
promises at least `min_delta`: the interval is the hysteresis band, so noise in the fit cannot flip "stop now" and "keep training" back and
forth. At or past the planned end the decision is held, not re-made.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from ..checks import positive_number
from ..formatting import format_number

# the decisions, in words (the "Do:" line)
KEEP = "keep"
SHORTEN = "shorten"
DECAY_EARLY = "decay_early"
STOP_NOW = "stop_now"
AT_END = "at_end"
NO_FORECAST = "no_forecast"

# topics that are state (raised, held, cleared); the Forecast summary and the Context items are not
STOP_TOPIC = "Recommended stop"


@dataclass(frozen=True)
class Change:
    """A warning that started ("raised") or ended ("cleared") at `step`."""

    topic: str
    kind: str  # "raised" or "cleared"
    step: int
    message: str

    def line(self) -> str:
        """One terminal line."""
        if self.kind == "raised":
            return f"step {self.step}: warning: {self.topic}: {self.message}"
        return f"step {self.step}: cleared: {self.topic} ({self.message})"


@dataclass(frozen=True)
class StopDecision:
    """What to do about the run's length at one validation (after hysteresis)."""

    decision: str  # KEEP, SHORTEN, DECAY_EARLY, STOP_NOW, AT_END or NO_FORECAST
    since_step: Optional[int]  # STOP_NOW: the validation where it was first recommended
    do: str  # the imperative, one short sentence
    why: str  # the reason in words
    warning: bool  # the decision asks to change the plan


@dataclass(frozen=True)
class BoardView:
    """The board after one validation: what changed, the stop decision and the text."""

    step: int
    changes: Tuple[Change, ...]
    stop: StopDecision
    active: Dict[str, int]  # topic -> step the warning was raised at
    markdown: str


def data_limit_for_plan(data, planned_tokens: Optional[float]):
    """The data-limit advice (`advice.DataLimitAdvice`) said of the planned run.

    Kaplan et al. 2020 eq. 4.4 bounds the loss of a model trained to convergence on a dataset
    of D unique tokens; a run that will not pass over its data once never repeats a token, so
    the data set does not limit it (its budget in steps does). The warning stands only when
    the plan trains on more tokens than the data holds and the data is below the limit.
    Returns the advice unchanged when the plan is unknown (None).
    """
    if data is None or planned_tokens is None or not data.warning:
        return data
    epochs = planned_tokens / data.unique_tokens
    if epochs > 1.0:
        return dataclasses.replace(data, message=(
            f"The plan trains on {format_number(planned_tokens)} tokens, {epochs:.3g} epochs of {format_number(data.unique_tokens)} "
            f"unique ones: " + data.message[0].lower() + data.message[1:]))
    return dataclasses.replace(data, warning=False, message=(
        f"The plan trains on {format_number(planned_tokens)} tokens, {epochs:.2g} of an epoch: no token is repeated, so "
        f"the data set does not limit this run (it would past one epoch: {format_number(data.unique_tokens)} unique tokens "
        f"are below Kaplan's limit {format_number(data.min_unique_tokens)} for N = {format_number(data.n_params)}, eq. 4.4)."))


class AdviceBoard:
    """The advice of a run over its validations: call `update` once per validation, in order.

    `min_delta` is the loss improvement still worth training for (the stop decision's
    threshold). Keeps `active` warnings ({topic: step raised}) and the stop decision across
    calls; `state_dict`/`load_state_dict` carry them through a checkpoint.
    """

    def __init__(self, min_delta: float):
        self.min_delta = positive_number(min_delta, "min_delta", what="a positive loss difference")
        self.active: Dict[str, int] = {}
        self.stop_since: Optional[int] = None  # step "stop now" was entered; None when not in that state

    def state_dict(self) -> Dict[str, object]:
        return {"active": dict(self.active), "stop_since": self.stop_since}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.active = {str(k): int(v) for k, v in dict(state["active"]).items()}
        self.stop_since = None if state["stop_since"] is None else int(state["stop_since"])

    def update(self, assessment, *, planned_tokens: Optional[float] = None,
               reached: Optional[float] = None) -> BoardView:
        """Take one validation's `tracking.Assessment`; return the changes, decision and text.
        `reached`: the loss observed at this validation; at the planned end the text's "Ends:"
        line gives it beside the forecast (which it alone would not be)."""
        a = assessment
        step = a.record.step
        stop = self._decide(a)
        data = data_limit_for_plan(a.data_limit, planned_tokens)
        items = [a.overfitting, data, a.repetition]
        warnings_now = {item.topic: item for item in items if item is not None and item.warning}
        if stop.warning or (stop.decision == AT_END and STOP_TOPIC in self.active):
            warnings_now[STOP_TOPIC] = stop  # at the planned end a recommendation is held, not cleared
        changes: List[Change] = []
        for topic, item in warnings_now.items():
            if topic not in self.active:
                self.active[topic] = step
                changes.append(Change(topic, "raised", step, item.message if topic != STOP_TOPIC
                                      else item.why if item.why.startswith(item.do.rstrip("."))
                                      else f"{item.do} {item.why}"))
        for topic in [t for t in self.active if t not in warnings_now]:
            del self.active[topic]
            changes.append(Change(topic, "cleared", step, "the condition no longer holds"))
        others = [item for item in items + [a.efficient, a.chinchilla]
                  if item is not None and item.topic not in warnings_now]
        markdown = self._markdown(a, stop, warnings_now, changes, others, reached)
        return BoardView(step, tuple(changes), stop, dict(self.active), markdown)

    # ---- the stop decision --------------------------------------------------------------
    def _decide(self, a) -> StopDecision:
        r = a.record
        step = r.step
        if not r.ok or a.stop is None:
            reason = r.reason or "the forecast curve is not finite"
            if self.stop_since is not None:  # no forecast now: the last decision holds
                return StopDecision(STOP_NOW, self.stop_since, "Stop now.",
                                    f"Recommended since step {self.stop_since}; no forecast at step {step} "
                                    f"({reason}) to overturn it.", True)
            return StopDecision(NO_FORECAST, None, "Keep training.", f"No forecast yet: {reason}.", False)
        s = a.stop
        end = s.planned_end
        if step >= end:
            if self.stop_since is not None:
                return StopDecision(AT_END, self.stop_since, "Nothing: the run is at its planned end.",
                                    f"Stopping was recommended since step {self.stop_since}.", False)
            return StopDecision(AT_END, None, "Nothing: the run is at its planned end.",
                                f"Step {step} of {end}.", False)
        # the pessimistic gain: fitted loss now minus the high end of the interval at the planned end
        sure_gain = r.fitted_loss - r.high
        if self.stop_since is not None and not (math.isfinite(sure_gain) and sure_gain >= self.min_delta):
            return StopDecision(STOP_NOW, self.stop_since, "Stop now.", (
                f"Since step {self.stop_since} the forecast predicts less than {format_number(self.min_delta)} further "
                f"improvement by step {end}; even now its pessimistic end promises only {format_number(sure_gain)} "
                f"(fitted {format_number(r.fitted_loss)} now, up to {format_number(r.high)} at step {end})."), True)
        if self.stop_since is not None:  # the interval is now sure of min_delta more: leave "stop now"
            self.stop_since = None
        if s.stop_step <= step and s.recommended_decay_start is None:
            return self._stop_or_not_yet(r, s.message)
        if s.recommended_decay_start is not None and s.warning:
            return StopDecision(DECAY_EARLY, None, f"Start the final decay at step {s.recommended_decay_start} "
                                f"and end at step {s.recommended_end}.", s.message, True)
        if s.warning:  # a few steps to save is information, not a reason to act: no warning
            return StopDecision(SHORTEN, None, f"Keep training; stopping at step {s.stop_step} instead of {end} "
                                f"would lose less than {format_number(self.min_delta)}.", s.message, False)
        return StopDecision(KEEP, None, f"Keep training to step {end}.", s.message, False)

    def _stop_or_not_yet(self, r, message: str) -> StopDecision:
        """The middle of the forecast gains less than `min_delta` from now: "Stop now" when even the
        optimistic (low) end of its interval does, the rule of `ForecastEarlyStopping`; otherwise
        keep training and say why the gate would not stop. A middle that promised less went on to
        fall by more (0.016 against min_delta 0.01 over the last 80 of 200 steps, issue 29): only
        the whole interval is evidence enough to stop."""
        delta, end = format_number(self.min_delta), r.target_step
        gain = r.optimistic_gain
        if math.isfinite(gain) and gain < self.min_delta:
            self.stop_since = r.step
            return StopDecision(STOP_NOW, r.step, "Stop now.", (
                f"{message} Even the optimistic end of the interval promises only {format_number(gain)} "
                f"(fitted {format_number(r.fitted_loss)} now, down to {format_number(r.low)} at step {end}): "
                f"ForecastEarlyStopping(min_delta={delta}) counts this validation toward its patience and "
                f"stops the run after patience of them in a row."), True)
        return StopDecision(SHORTEN, None, "Keep training for now.", (
            f"The forecast's middle predicts less than {delta} further improvement by step {end} (final "
            f"{format_number(r.loss)}), but the optimistic end of its interval still promises "
            f"{format_number(gain)} (fitted {format_number(r.fitted_loss)} now, down to {format_number(r.low)}): "
            f"ForecastEarlyStopping(min_delta={delta}) does not stop on this, and neither does this advice; "
            f"both say stop when even that end promises less than {delta}."), False)

    # ---- the text ------------------------------------------------------------------------
    def _markdown(self, a, stop: StopDecision, warnings_now, changes, others, reached=None) -> str:
        r = a.record
        fc = a.forecast
        lines = [f"### Step {r.step}" + (f" of {r.target_step}" if r.target_step else ""), ""]
        at_end = r.target_step and r.step >= r.target_step and reached is not None and math.isfinite(reached)
        if r.ok and fc is not None:
            pct = round(100 * fc.confidence)
            interval = (f"{format_number(r.loss)} at step {r.target_step} ({pct}% interval {format_number(r.low)} to "
                        f"{format_number(r.high)})")
            lines.append(f"**Ended:** loss {format_number(reached)} reached at step {r.step} (the forecast: {interval}).  "
                         if at_end else f"**Ends:** loss {interval}.  ")
        else:
            lines.append(f"**Ends:** no forecast yet ({r.reason}).  ")
        lines.append(f"**Do:** {stop.do}  ")
        lines.append(f"**Why:** {stop.why}")
        raised_now = {c.topic for c in changes if c.kind == "raised"}
        shown = [(t, i) for t, i in warnings_now.items() if t != STOP_TOPIC]
        if shown:
            lines += ["", "**Warnings now:**"]
            for topic, item in shown:
                when = "new at this step" if topic in raised_now else f"since step {self.active[topic]}"
                lines.append(f"- **{topic}** ({when}): {item.message}")
        cleared = [c for c in changes if c.kind == "cleared"]
        if cleared:
            lines += ["", "**Cleared at this step:** " + ", ".join(c.topic for c in cleared) + "."]
        rest = [a.summary] + others
        if rest:
            lines += ["", "**Details:**"]
            lines += [f"- **{i.topic}:** {i.message}" for i in rest]
        if a.notes:
            lines += ["", "**Assumptions:**"] + [f"- {n}" for n in a.notes]
        return "\n".join(lines)
