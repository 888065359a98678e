"""Is this run on its family's trend?  The cross-run law's loss for the run's N and planned D,
set beside the run's own forecast of its final loss.

A law fitted on the family's earlier runs (`fit_scaling_law`, saved with `--save`) expects a
loss L(N, D) for a run of N parameters trained on D tokens, with a bootstrap interval. The run's
forecast has its own interval. The run is off trend when the two intervals do not overlap: the
forecast's whole interval lies above the law's (worse than the family predicts: a bug, a bad
learning rate, bad data) or below it (better: the change works, or the law is out of its range).

numpy only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional, Union

from ..status import ScalingLawError
from .result import Estimate, ScalingLawFit

__all__ = ["TrendCheck", "load_fit", "trend_check"]

ABOVE, BELOW, ON = "above", "below", "on"


@dataclass(frozen=True)
class TrendCheck:
    """The law's expected loss for this run beside the run's forecast."""

    expected: Estimate  # L(N, D_planned) from the cross-run law, with its interval
    forecast: Estimate  # the run's own forecast of its final loss, with its interval
    gap: float  # forecast − expected (positive: the run is worse than its family predicts)
    direction: str  # "above", "below" or "on": where the forecast's interval lies against the law's
    message: str

    @property
    def off_trend(self) -> bool:
        """The forecast's interval and the law's do not overlap."""
        return self.direction != ON


def load_fit(fit: Union[str, ScalingLawFit]) -> ScalingLawFit:
    """A fit given as a ScalingLawFit or as the path of one saved by `fit --save`."""
    if isinstance(fit, ScalingLawFit):
        return fit
    if isinstance(fit, (str, bytes)) or hasattr(fit, "__fspath__"):
        try:
            return ScalingLawFit.load(fit)
        except OSError as exc:
            raise ScalingLawError(f"cannot read the saved fit {fit!s}: {exc}") from None
    raise ScalingLawError(f"fit must be a ScalingLawFit or the path of a saved fit, got {type(fit).__name__}")


def trend_check(fit: ScalingLawFit, N: float, planned_tokens: float, forecast: float,
                forecast_low: Optional[float] = None, forecast_high: Optional[float] = None,
                unique_tokens: Optional[float] = None) -> TrendCheck:
    """Compare the run's forecast final loss with what `fit` expects at (N, planned_tokens).

    Raises ScalingLawError on non-positive N or tokens, or a forecast that is not a finite
    number. Without bootstrap laws the law's value is a point; without a forecast interval the
    forecast is a point; two points are "on" only when equal.
    """
    expected = fit.expected_loss(N, planned_tokens,
                                 unique_tokens if fit.form == "muennighoff" else None)
    values = (forecast, forecast_low, forecast_high)
    if not all(v is None or (isinstance(v, numbers.Real) and math.isfinite(v)) for v in values) \
            or forecast is None:
        raise ScalingLawError(f"the forecast must be finite numbers, got {values!r}")
    own = Estimate(float(forecast), None if forecast_low is None else float(forecast_low),
                   None if forecast_high is None else float(forecast_high))
    f_low, f_high = (own.value, own.value) if own.low is None else (own.low, own.high)
    e_low, e_high = (expected.value, expected.value) if expected.low is None else (expected.low, expected.high)
    direction = ABOVE if f_low > e_high else BELOW if f_high < e_low else ON
    gap = own.value - expected.value
    span = "" if expected.low is None else f" [{expected.low:.4g}, {expected.high:.4g}]"
    where = {ABOVE: "above its family's trend: worse than the law expects",
             BELOW: "below its family's trend: better than the law expects",
             ON: "on its family's trend"}[direction]
    message = (f"the cross-run law expects {expected.value:.4g}{span} for N = {N:.3g} on {planned_tokens:.3g} "
               f"tokens; this run's forecast {own.value:.4g} ({gap:+.3g}) is {where}.")
    return TrendCheck(expected, own, gap, direction, message)
