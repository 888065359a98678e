"""The tracker's state in a transformers Trainer's checkpoints, so that
`trainer.train(resume_from_checkpoint=...)` continues the token count, history and forecasts.

A TrainerCallback cannot add to a checkpoint itself. The Trainer writes `TrainerState` into each
checkpoint (trainer_state.json) and reads it back first thing on resume, before any callback's
on_train_begin; its `stateful_callbacks` dict holds the states of callbacks that are
`ExportableState`s. The tracker's state goes into that dict under its own key, kept up to date
whenever a checkpoint is due (`keep_state`, on every process: reading the token count is a
collective), and is read back at train begin (`resume_tracker`).

Why not `ExportableState` itself: the Trainer calls `state()` on the main process only (the token
count is a sum over processes), and with `restore_callback_states_from_checkpoint=True` it would
replace the callback by a new one built from JSON arguments (the settings hold functions and fits
JSON cannot). Under a key that is not a callback class's name, the Trainer keeps the entry as it
is; with that option on, it logs that it ignores it.
"""
from __future__ import annotations

STATE_KEY_PREFIX = "scaling_callback"  # keys "scaling_callback.<class>[<monitor>]" in TrainerState.stateful_callbacks


def state_key(owner: str, monitor: str) -> str:
    """The key of one callback's state in `TrainerState.stateful_callbacks` (one per monitor)."""
    return f"{STATE_KEY_PREFIX}.{owner}[{monitor}]"


def keep_state(tracker, state, key: str) -> None:
    """Put the tracker's state where the Trainer's next checkpoint writes it. Every process calls it."""
    saved = tracker.state_dict()
    if not isinstance(getattr(state, "stateful_callbacks", None), dict):  # a TrainerState without the field
        return
    state.stateful_callbacks[key] = saved


def resume_tracker(tracker, state, key: str) -> None:
    """Load the tracker's state from the checkpoint the Trainer resumed from (its `state`, at
    step `state.global_step` > 0); a checkpoint without one is a warning that the counts restart."""
    kept = getattr(state, "stateful_callbacks", None)
    saved = kept.get(key) if isinstance(kept, dict) else None
    if saved is None:
        tracker.warn_once("resume", f"the Trainer resumed at step {state.global_step} from a checkpoint without this "
                          "callback's state (saved without the callback, or by an earlier version of it, "
                          "which did not keep it): the token count, history and forecasts restart from zero")
        return
    try:
        tracker.load_state_dict(saved)
    except ValueError as exc:
        raise ValueError(f"resuming at step {state.global_step}, the checkpoint's {key!r} (in its "
                         f"trainer_state.json): {exc}") from None
