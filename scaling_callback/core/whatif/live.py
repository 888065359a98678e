"""The live what-if (numpy only): at a validation, the forecast at the end of a cool-down started
now, as the tags the tracker logs and one line for TensorBoard's Text tab."""
from __future__ import annotations

import time
from typing import Dict, Optional, Tuple

from .. import tags
from ..formatting import format_number
from .alternative import WhatIf, cool_down_now


def live_whatif(steps, losses, *, planned_lr, planned_end: int, planned_loss: float, planned_low: float,
                planned_high: float, confidence: float = 0.8) -> Tuple[Optional[WhatIf], Dict[str, float], str]:
    """(the cool-down-now `WhatIf` or None, its tags → values, the Text-tab line; "" without one)
    for a run seen up to its last step with a loss, planned to end at `planned_end` with the
    forecast `planned_loss` [`planned_low`, `planned_high`] there. None (no tags) while the rate
    is not at its peak or the cool-down would end past the planned end (`cool_down_now`)."""
    start = time.perf_counter()
    found = cool_down_now(steps, losses, planned_lr=planned_lr, planned_end=planned_end, confidence=confidence)
    seconds = time.perf_counter() - start
    if found is None or not found.ok:
        return found, {}, ""
    metrics = {tags.COOLDOWN_NOW_LOSS: found.loss, tags.COOLDOWN_NOW_LOW: found.low,
               tags.COOLDOWN_NOW_HIGH: found.high, tags.COOLDOWN_NOW_END: float(found.end),
               tags.WHATIF_SECONDS: seconds}
    gap = found.loss - planned_loss
    line = (f"Cool down now ({found.recipe.describe()}): the run would end at step {found.end} with "
            f"{format_number(found.loss)} [{format_number(found.low)}, {format_number(found.high)}]; the planned end "
            f"at step {planned_end}: {format_number(planned_loss)} [{format_number(planned_low)}, "
            f"{format_number(planned_high)}], {format_number(abs(gap))} {'lower' if gap > 0 else 'higher'} "
            f"for {planned_end - found.end} more steps.")
    return found, metrics, line
