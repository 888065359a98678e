"""Whether a saved tracker state can be this run's: the same N, token-count convention, compute
per token, planned end and learning-rate scheduler.

`ScalingTracker.state_dict` saves what identifies the run ({"n_params", "convention",
"planned_steps"}, beside the planned schedule whose `source` names the schedulers);
`ScalingTracker.load_state_dict` compares it with the tracker it is loaded into and refuses a
state of another run (its counts and history would be mixed with this run's: C/(6D) read 2912
after 360). Only what both sides know is compared: a state of an earlier version has no
"n_params", and under Lightning the tracker learns N after the state is loaded (`set_model`
then compares it).
"""
from __future__ import annotations

import math
from typing import List, Optional

from ..core.compute import training_flops
from ..core.history import History
from .accounting import CONVENTIONS
from .planned import UNREADABLE, PlannedSchedule

KEYS = ("n_params", "convention", "planned_steps")  # the identity's keys in a tracker state (all optional)
FLOPS_RELATIVE_TOLERANCE = 1e-9  # C is a float of exact integers' product: anything above rounding is another run


def read_convention(value) -> Optional[str]:
    """None (a state of an earlier version) or one of `accounting.CONVENTIONS`."""
    if value is not None and value not in CONVENTIONS:
        raise ValueError(f"it must be one of {CONVENTIONS} or None, got {value!r}")
    return value


def convention_difference(saved: Optional[str], convention: str) -> Optional[str]:
    """The words for a differing parameter-count convention, None when they agree or the state has none."""
    if saved is None or saved == convention:
        return None
    return f"key 'convention': N is counted with convention {saved!r} in the state and {convention!r} here"


def params_difference(saved: Optional[int], n_params: Optional[int]) -> Optional[str]:
    """The words for a differing N, None when they agree or one is not known."""
    if saved is None or n_params is None or int(saved) == int(n_params):
        return None
    return (f"key 'n_params': N (the parameters counted) is {int(saved):,} in the state and {int(n_params):,} here "
            "(another model)")


def compute_difference(history: History, n_params: Optional[int], n_layer, n_ctx, d_attn) -> Optional[str]:
    """The words for a history whose compute per token is not the one this tracker counts (its
    C/(6D) against N plus the context term here); None when it agrees or cannot be told."""
    if n_params is None or not len(history):
        return None
    last = next((o for o in reversed(list(history)) if o.tokens > 0), None)
    if last is None:
        return None
    expected = float(training_flops(n_params, last.tokens, n_layer, n_ctx, d_attn))
    if math.isclose(last.flops, expected, rel_tol=FLOPS_RELATIVE_TOLERANCE):
        return None
    return (f"key 'history': its compute per token C/(6D) is {last.flops / (6 * last.tokens):,.6g} in the state and "
            f"{expected / (6 * last.tokens):,.6g} here (another model or other context sizes)")


def plan_differences(saved_steps: Optional[int], planned_steps: Optional[int],
                     saved: Optional[PlannedSchedule], here: Optional[PlannedSchedule]) -> List[str]:
    """The words for a differing planned end or scheduler (what both sides know)."""
    out = []
    if saved_steps is not None and planned_steps is not None and int(saved_steps) != int(planned_steps):
        out.append(f"key 'planned_steps': the planned end is step {int(saved_steps):,} in the state and step "
                   f"{int(planned_steps):,} here")
    if (saved is not None and here is not None and UNREADABLE not in (saved.source, here.source)
            and saved.source != here.source):
        out.append(f"key 'schedule': the learning rate follows {saved.source!r} in the state and {here.source!r} here")
    return out


def refusal(name: str, differences: List[str], plan_differs: bool = False) -> str:
    """The error of a state that is another run's, naming every difference and its key."""
    hint = (" To resume with another planned end on purpose, create the tracker with planned_steps=None, load the "
            "state, then set tracker.planned_steps." if plan_differs else "")
    return (f"{name}: the saved state is not this run's: {'; '.join(differences)}. Nothing was loaded. Load a state "
            f"saved by this run, or load none to start its counts from zero.{hint}")
