"""Resuming from a checkpoint written just before a validation (issue 13).

`ModelCheckpoint(every_n_train_steps=k)` writes in `on_train_batch_end`, before the validation
due at that same step runs; on resume Lightning counts that validation as done and does not run
it (`_TrainingEpochLoop.advance`: "fast forward progress counters to end of validation"). The
resumed history would lack the observation an uninterrupted run has there, and its forecasts
would differ. So the callback notes, when its state is saved, whether a validation is due at
that step (`validation_due`), and on resume runs that validation before training goes on
(`run_missed_validation`): every callback's validation hooks run as they did in the
uninterrupted run. Both read Lightning's loop internals (the same in `lightning.pytorch` and
`pytorch_lightning` 2.x); where they are not there, nothing is run and the caller warns.
"""
from __future__ import annotations


def validation_due(trainer) -> bool:
    """Whether a validation will run at the current step after this training batch (called
    while a checkpoint is written). False outside a training batch or when it cannot be told."""
    if trainer.sanity_checking or trainer.validating or not trainer.training:
        return False
    fit_loop = trainer.fit_loop
    try:
        return bool(fit_loop.epoch_loop._should_check_val_fx(fit_loop._data_fetcher))
    except (AttributeError, TypeError):  # another Lightning version's loop
        return False


def run_missed_validation(trainer) -> bool:
    """Run the validation loop now, as the epoch loop would after a training batch; False when
    this Lightning's loop does not offer it."""
    epoch_loop = getattr(trainer.fit_loop, "epoch_loop", None)
    val_loop = getattr(epoch_loop, "val_loop", None)
    if val_loop is None or not hasattr(val_loop, "run"):
        return False
    trainer.validating = True
    try:
        val_loop.run()
    finally:
        trainer.training = True
    return True
