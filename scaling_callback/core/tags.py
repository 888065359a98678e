"""Every tag the package logs, named once.

The callbacks write these names, the TensorBoard layout refers to them, and `scaling-callback
fit` reads some of them back; nothing else in the package spells a tag. `TAGS` lists every
scalar, text and image tag with what it holds (docs/tags.md is generated from it).
"""
from __future__ import annotations

from typing import Dict, NamedTuple, Optional


class Tag(NamedTuple):
    name: str
    kind: str  # "scalar", "text" or "image"
    group: str  # "scaling", "forecast", "advice", "whatif", "gate", "throughput" or "trend"
    meaning: str


# ---- the run's scale (every validation end, every logger) -------------------------------------
PARAMS = "scaling/params_non_embedding"  # N, convention="kaplan"
PARAMS_TOTAL = "scaling/params_total"  # N, convention="total"
TOKENS = "scaling/tokens"
FLOPS = "scaling/compute_flops"
PF_DAYS = "scaling/compute_pf_days"
TOKENS_PER_PARAM = "scaling/tokens_per_param"
EPOCHS = "scaling/epochs"
PARAMS_BY_CONVENTION = {"kaplan": PARAMS, "total": PARAMS_TOTAL}

# ---- the forecast (global rank zero) ----------------------------------------------------------
FINAL_LOSS = "forecast/final_loss"
FINAL_LOSS_LOW = "forecast/final_loss_low"
FINAL_LOSS_HIGH = "forecast/final_loss_high"
ASYMPTOTIC_LOSS = "forecast/asymptotic_loss"
EXPONENT = "forecast/exponent"
FINAL_STEP = "forecast/final_step"
FITTED_LOSS = "forecast/fitted_loss"
FORECAST_OK = "forecast/ok"
POINTS_USED = "forecast/points_used"
POINTS_SKIPPED = "forecast/points_skipped"
FIT_SECONDS = "forecast/fit_seconds"
FAMILY_RUNS = "forecast/family_runs"  # with family=: the family runs that informed the forecast
FORECAST_FIGURE = "forecast/figure"  # image
LOSS_AT_STEP_PREFIX = "forecast/loss_at_step_"  # + the step, for horizons= when the run has no end


def loss_at_step(step: int) -> str:
    """The tag of the forecast at a user horizon (runs without a planned end)."""
    return f"{LOSS_AT_STEP_PREFIX}{int(step)}"


# ---- several callbacks in one Trainer ---------------------------------------------------------
INSTANCE_GROUPS = ("forecast", "advice", "whatif")  # tags that depend on the monitored metric


def for_instance(name: str, suffix: Optional[str]) -> str:
    """`name` as written by one of several ScalingLawCallbacks in one Trainer: forecast/ and
    advice/ tags get "/<suffix>" (the instance's monitor), so that one's forecasts do not
    overwrite the other's; scaling/ tags, the run's own scale, and any tag with suffix None
    stay as they are."""
    if suffix is None or name.split("/", 1)[0] not in INSTANCE_GROUPS:
        return name
    return f"{name}/{suffix}"


# ---- the advice (global rank zero) ------------------------------------------------------------
RECOMMENDED_STOP = "advice/recommended_stop_step"
RECOMMENDED_DECAY_START = "advice/recommended_decay_start_step"
OVERFITTING = "advice/overfitting"
OVERFITTING_SINCE = "advice/overfitting_since_step"
TOKENS_TO_DATA_LIMIT = "advice/tokens_to_data_limit"
REPEATED_DATA = "advice/repeated_data"
EFFECTIVE_DATA_FRACTION = "advice/effective_data_fraction"
KAPLAN_EFFICIENT_STEP = "advice/kaplan_efficient_step"
ADVICE_TEXT = "advice/summary"  # text; TensorBoard stores it as "advice/summary/text_summary"

# ---- what if the run cooled down now (global rank zero, while the rate is at its peak) -----------
COOLDOWN_NOW_LOSS = "whatif/cooldown_now_loss"
COOLDOWN_NOW_LOW = "whatif/cooldown_now_loss_low"
COOLDOWN_NOW_HIGH = "whatif/cooldown_now_loss_high"
COOLDOWN_NOW_END = "whatif/cooldown_now_end_step"
WHATIF_SECONDS = "whatif/fit_seconds"
WHATIF_TEXT = "whatif/summary"  # text; TensorBoard stores it as "whatif/summary/text_summary"

# ---- the predictive early-stopping gate -------------------------------------------------------
GATE_GAIN = "gate/optimistic_gain"
GATE_WAIT = "gate/wait_count"
GATE_STOPPED = "gate/stopped_step"
GATE_REASON = "gate/reason"  # text

# ---- throughput (every validation end after the first, every logger) --------------------------
TOKENS_PER_SECOND = "throughput/tokens_per_second"
FLOPS_PER_SECOND = "throughput/flops_per_second"
SECONDS_TO_PLANNED_END = "throughput/seconds_to_planned_end"

# ---- the family's trend: a saved cross-run fit (fit=) against this run's forecast (rank zero) ----
TREND_EXPECTED = "trend/expected_loss"
TREND_EXPECTED_LOW = "trend/expected_loss_low"
TREND_EXPECTED_HIGH = "trend/expected_loss_high"
TREND_GAP = "trend/gap"
TREND_OFF = "trend/off_trend"

# ---- TensorBoard custom-scalars layout --------------------------------------------------------
LAYOUT_CATEGORY = "scaling-callback: where the run ends"
LAYOUT_SUMMARY = "custom_scalars__config__"  # the custom-scalars plugin's own name for its layout record

# ---- keys of a Ray Tune result (sweeps/ray_tune.py's tune_result), beside the forecast tags ------
FORECAST_CONFIDENCE = "forecast/confidence"  # the probability of the interval (final_loss_low, final_loss_high)

# ---- files beside the event files --------------------------------------------------------------
SCHEDULE_FILE = "scaling_schedule.json"  # the planned schedule, read by `scaling-callback forecast LOGDIR`

_S, _T, _I = "scalar", "text", "image"
TAGS: Dict[str, Tag] = {t.name: t for t in (
    Tag(PARAMS, _S, "scaling", "non-embedding parameters N (Kaplan et al. 2020), convention='kaplan'"),
    Tag(PARAMS_TOTAL, _S, "scaling", "every parameter N (Hoffmann et al. 2022), convention='total'"),
    Tag(TOKENS, _S, "scaling", "training tokens D so far, padding excluded, summed over data-parallel ranks"),
    Tag(FLOPS, _S, "scaling", "training compute C = 6·N·D in FLOPs (plus the context term when given)"),
    Tag(PF_DAYS, _S, "scaling", "the same compute in PF-days (8.64e19 FLOPs each)"),
    Tag(TOKENS_PER_PARAM, _S, "scaling", "D / N"),
    Tag(EPOCHS, _S, "scaling", "passes over the training data"),
    Tag(FINAL_LOSS, _S, "forecast", "the monitored loss forecast at the planned end"),
    Tag(FINAL_LOSS_LOW, _S, "forecast", "the interval's lower (optimistic) end at the planned end"),
    Tag(FINAL_LOSS_HIGH, _S, "forecast", "the interval's upper end at the planned end"),
    Tag(ASYMPTOTIC_LOSS, _S, "forecast", "the loss approached with unlimited training at the final learning rate"),
    Tag(EXPONENT, _S, "forecast", "the exponent of the fitted law"),
    Tag(FINAL_STEP, _S, "forecast", "the step forecast (the planned end, or the furthest horizon ahead)"),
    Tag(FITTED_LOSS, _S, "forecast", "the fitted curve at the current step (the loss now, without the noise)"),
    Tag(FORECAST_OK, _S, "forecast", "1 when a forecast was made at this validation, else 0"),
    Tag(POINTS_USED, _S, "forecast", "validation points the fit used"),
    Tag(POINTS_SKIPPED, _S, "forecast", "non-finite validation losses skipped"),
    Tag(FIT_SECONDS, _S, "forecast", "wall time of the forecast"),
    Tag(FAMILY_RUNS, _S, "forecast", "with family=: the family's finished runs whose replays informed the forecast"),
    Tag(LOSS_AT_STEP_PREFIX + "<h>", _S, "forecast", "the forecast at horizon step h (runs without a planned end)"),
    Tag(FORECAST_FIGURE, _I, "forecast", "the forecast figure: observed points, fitted curve, interval band"),
    Tag(RECOMMENDED_STOP, _S, "advice", "the step after which the forecast gains less than min_delta"),
    Tag(RECOMMENDED_DECAY_START, _S, "advice", "where to start the learning-rate cool-down (when it applies)"),
    Tag(OVERFITTING, _S, "advice", "1 while the validation loss has turned up, else 0"),
    Tag(OVERFITTING_SINCE, _S, "advice", "the step of the best validation loss, while overfitting"),
    Tag(TOKENS_TO_DATA_LIMIT, _S, "advice", "Kaplan's data limit D ≈ 5·10³·N^0.74 (eq. 4.4)"),
    Tag(REPEATED_DATA, _S, "advice", "1 when the repeated epochs are past the point of paying, else 0"),
    Tag(EFFECTIVE_DATA_FRACTION, _S, "advice", "effective data D'/D under repetition (Muennighoff et al. 2023)"),
    Tag(KAPLAN_EFFICIENT_STEP, _S, "advice", "Kaplan's compute-efficient stopping point on the forecast curve"),
    Tag(ADVICE_TEXT, _T, "advice", "the advice in words (Text tab)"),
    Tag(COOLDOWN_NOW_LOSS, _S, "whatif", "the loss forecast at the end of a cool-down started at this validation "
        "(the planned cool-down's shape and length, or 20% of the run in 1 − sqrt to 0 without one)"),
    Tag(COOLDOWN_NOW_LOW, _S, "whatif", "that forecast's interval, lower end"),
    Tag(COOLDOWN_NOW_HIGH, _S, "whatif", "that forecast's interval, upper end"),
    Tag(COOLDOWN_NOW_END, _S, "whatif", "the step that cool-down would end the run at"),
    Tag(WHATIF_SECONDS, _S, "whatif", "wall time of the cool-down-now forecast"),
    Tag(WHATIF_TEXT, _T, "whatif", "cool down now against the planned end, in one line (Text tab)"),
    Tag(GATE_GAIN, _S, "gate", "fitted loss now minus the interval's low end at the planned end"),
    Tag(GATE_WAIT, _S, "gate", "consecutive validations below min_delta"),
    Tag(GATE_STOPPED, _S, "gate", "the step the gate stopped the run at (logged once, when it stops)"),
    Tag(GATE_REASON, _T, "gate", "why the gate stopped the run (Text tab)"),
    Tag(TOKENS_PER_SECOND, _S, "throughput", "training tokens per second since the previous validation, validation time left out"),
    Tag(FLOPS_PER_SECOND, _S, "throughput", "training FLOP per second over the same interval (6·N per token, plus the context term)"),
    Tag(SECONDS_TO_PLANNED_END, _S, "throughput",
        "estimated seconds to the planned end: steps left × wall time per step of the last interval, validations included"),
    Tag(TREND_EXPECTED, _S, "trend", "the loss the cross-run law (fit=) expects for this run's N and planned D"),
    Tag(TREND_EXPECTED_LOW, _S, "trend", "the lower end of the law's bootstrap interval"),
    Tag(TREND_EXPECTED_HIGH, _S, "trend", "the upper end of the law's bootstrap interval"),
    Tag(TREND_GAP, _S, "trend", "forecast/final_loss minus trend/expected_loss (positive: worse than the family)"),
    Tag(TREND_OFF, _S, "trend", "1 when the forecast's interval lies above the law's, -1 below, 0 when they overlap"),
)}


def tags_markdown() -> str:
    """The table of every tag, for docs/tags.md."""
    rows = ["| tag | kind | what it holds |", "| --- | --- | --- |"]
    rows += [f"| `{t.name}` | {t.kind} | {t.meaning} |" for t in TAGS.values()]
    return "\n".join(rows)
