"""The HF Trainer adapter under misuse (issue 29, bad inputs 9-11): a Trainer that never
evaluates, a resume from a checkpoint, two gates. Real `transformers.Trainer` runs on the CPU
(a tiny GPT-2 built from a config, no download), read back from the Trainer's own files."""
import warnings

import pytest
import transformers

from scaling_callback import read_scalars
from scaling_callback.hf import ForecastEarlyStoppingCallback, ScalingLawTrainerCallback
from tiny_hf import PaddedItems, collate, tiny_gpt2, training_args

pytest.importorskip("accelerate")  # the Trainer needs it


def _train(out, callbacks, resume=None, **overrides):
    args = training_args(out, **{"max_steps": 60, **overrides})
    trainer = transformers.Trainer(model=tiny_gpt2(), args=args, train_dataset=PaddedItems(200),
                                   eval_dataset=PaddedItems(8, seed=1), data_collator=collate, callbacks=callbacks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train(resume_from_checkpoint=resume)
    return trainer, [str(w.message) for w in caught]


def test_a_trainer_that_never_evaluates_is_one_warning_at_train_begin(tmp_path):
    callback = ScalingLawTrainerCallback()
    _, warned = _train(tmp_path, [callback], max_steps=4, eval_strategy="no", report_to=[])
    told = [m for m in warned if "never evaluates" in m]
    assert len(told) == 1 and "eval_strategy='steps'" in told[0], warned  # was: nothing at all
    assert len(callback.history) == 0


def test_a_resumed_trainer_continues_the_counts_history_and_forecasts(tmp_path):
    whole = ScalingLawTrainerCallback()
    _train(tmp_path / "whole", [whole], save_strategy="steps", save_steps=20)
    resumed = ScalingLawTrainerCallback()
    _, warned = _train(tmp_path / "resumed", [resumed], resume=str(tmp_path / "whole" / "checkpoint-40"))
    assert [o.step for o in resumed.history] == [o.step for o in whole.history] == [20, 40, 60]
    assert [o.tokens for o in resumed.history] == [o.tokens for o in whole.history]  # was 2283 -> 785 at step 60
    assert resumed.forecasts[-1].ok and resumed.forecasts[-1].loss == pytest.approx(whole.forecasts[-1].loss, rel=1e-9)
    steps, tokens = read_scalars(str(tmp_path / "resumed"))["scaling/tokens"]
    assert steps.tolist() == [60] and tokens.tolist() == [whole.history[-1].tokens]
    assert not [m for m in warned if "restart from zero" in m]


def test_a_checkpoint_without_the_callbacks_state_is_a_warning_that_counts_restart(tmp_path):
    _train(tmp_path / "plain", [], max_steps=20, save_strategy="steps", save_steps=20, eval_strategy="no",
           report_to=[])
    callback = ScalingLawTrainerCallback()
    _, warned = _train(tmp_path / "resumed", [callback], max_steps=40, resume=str(tmp_path / "plain" / "checkpoint-20"))
    assert len([m for m in warned if "restart from zero" in m]) == 1, warned


def test_a_second_gate_in_one_trainer_is_refused(tmp_path):
    gates = [ForecastEarlyStoppingCallback(min_delta=0.01), ForecastEarlyStoppingCallback(min_delta=0.05)]
    with pytest.raises(RuntimeError, match="has 2 ForecastEarlyStoppingCallbacks; it takes one"):
        _train(tmp_path, [ScalingLawTrainerCallback(), *gates], max_steps=4)  # was: gate/* tags overwritten
