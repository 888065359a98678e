"""What a transformers TrainerCallback cannot reach through its hooks: the Trainer itself (to
report through every `report_to` integration) and the TensorBoard writer of the Trainer's
TensorBoardCallback (for the exact tag names, the custom-scalars layout, text and figures).

A TrainerCallback's hooks get (args, state, control, model, processing_class, optimizer,
lr_scheduler, train_dataloader, eval_dataloader), never the Trainer. The Trainer is found once,
at train begin, as the caller whose `callback_handler` holds the callback (the hook is called by
`CallbackHandler.call_event`, itself called by a Trainer method); passing `trainer=` to the
callback makes the search unnecessary.
"""
from __future__ import annotations

import inspect
from typing import Dict, Optional

FRAMES_SEARCHED = 8  # Trainer method -> CallbackHandler.on_x -> call_event -> the hook: 4 in transformers 4.x-5.x


def find_trainer(callback, frames: int = FRAMES_SEARCHED):
    """The object whose `callback_handler.callbacks` holds `callback`, found in the calling frames."""
    frame = inspect.currentframe()
    try:
        for _ in range(frames):
            frame = frame.f_back if frame is not None else None
            if frame is None:
                return None
            owner = frame.f_locals.get("self")
            handler = getattr(owner, "callback_handler", None)
            if any(cb is callback for cb in getattr(handler, "callbacks", ())):
                return owner
        return None
    finally:
        del frame


def _tensorboard_callback_type():
    try:
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        return None
    return TensorBoardCallback


def tensorboard_writers(trainer) -> list:
    """The SummaryWriters of the Trainer's TensorBoardCallbacks (report_to="tensorboard"), once
    they exist (created at train begin on the main process)."""
    tb_type = _tensorboard_callback_type()
    if trainer is None or tb_type is None:
        return []
    return [cb.tb_writer for cb in trainer.callback_handler.callbacks
            if isinstance(cb, tb_type) and getattr(cb, "tb_writer", None) is not None]


def report(trainer, sender, args, state, control, logs: Dict[str, float], writer=None) -> None:
    """Report `logs` through the Trainer's own reporting, under their exact names.

    What `Trainer.log` does (every callback's on_log, an entry in state.log_history), except for
    the TensorBoardCallbacks: they would rename every key to "train/<key>", so they are skipped
    and `writer` (their SummaryWriter, or None when the caller wrote the scalars already) gets
    the exact tags, on the main process. Callbacks of the scaling-callback family (marked
    `_scaling_callback`) are not called back.
    """
    tb_type = _tensorboard_callback_type()
    if writer is not None and state.is_world_process_zero:
        for key, value in logs.items():
            writer.add_scalar(key, value, state.global_step)
        writer.flush()
    for cb in trainer.callback_handler.callbacks:
        if cb is sender or getattr(cb, "_scaling_callback", False) or (tb_type is not None and isinstance(cb, tb_type)):
            continue
        cb.on_log(args, state, control, logs=dict(logs), model=getattr(trainer, "model", None))
    state.log_history.append({**logs, "step": state.global_step})


def is_distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def broadcast_object(obj, src: int = 0, device=None):
    """`obj` from process `src` on every process (itself without a process group)."""
    import torch.distributed as dist

    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=device)
    return box[0]


def any_process(flag: bool, device=None) -> bool:
    """True on every process when `flag` is true on one (a collective every process calls)."""
    import torch
    import torch.distributed as dist

    if not is_distributed():
        return bool(flag)
    value = torch.tensor(int(flag), device=device)
    dist.all_reduce(value)
    return bool(value.item() > 0)


def optional_trainer(trainer) -> Optional[object]:
    if trainer is not None and not hasattr(trainer, "callback_handler"):
        raise ValueError(f"trainer must be a transformers.Trainer (it has no callback_handler), got {type(trainer).__name__}")
    return trainer
