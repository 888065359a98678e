"""The framework-free core of ScalingLawCallback: settings, counters, history, logging.

It implements the Lightning hooks against a duck-typed trainer and imports no Lightning
namespace; `lightning_callbacks.py`, `pytorch_lightning_callbacks.py` and `callbacks.py` each
put it over a `Callback` base class. Per training micro-batch it only adds to a token counter
(no host-device sync); at each validation end (outside the sanity check) it reads the count
once, summed over ranks, records an `Observation` and logs the scale of the run.
"""
from __future__ import annotations

import math
import warnings
from typing import Callable, Dict, Optional

from .accounting import CONVENTIONS, TokenCounter, non_embedding_params as count_non_embedding_params
from .compute import context_flops_per_token, epochs_seen, pf_days, tokens_per_param, training_flops
from .history import History, Observation

TAG_TOKENS = "scaling/tokens"
TAG_FLOPS = "scaling/compute_flops"
TAG_PF_DAYS = "scaling/compute_pf_days"
TAG_TOKENS_PER_PARAM = "scaling/tokens_per_param"
TAG_EPOCHS = "scaling/epochs"
TAG_PARAMS = {"kaplan": "scaling/params_non_embedding", "total": "scaling/params_total"}


def _positive_int(value, name: str) -> Optional[int]:
    """None, or a positive whole number (an integral float such as 1.5e8 included) as an int."""
    if value is None:
        return None
    whole = isinstance(value, float) and value.is_integer()
    if isinstance(value, bool) or not (whole or hasattr(value, "__index__")) or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return int(value)


class ScalingLawCore:
    """Logs a language-model run's scale (N, D, C = 6·N·D) at every validation end.

    Tags, logged through every logger of the Trainer at `trainer.global_step`:
    scaling/params_non_embedding (scaling/params_total with convention="total"), scaling/tokens,
    scaling/compute_flops, scaling/compute_pf_days, scaling/tokens_per_param, scaling/epochs.

    Args:
        monitor: validation metric recorded in the history (one warning when it is missing).
        train_monitor: training-loss metric recorded beside it when logged (None: not recorded).
        tokens_in_batch: fn(batch) -> int or integer tensor, the tokens of one training batch;
            default `scaling_callback.tokens_in_batch` (token tensor numel; attention_mask.sum()
            for dicts with input_ids; first element of tuples/lists).
        non_embedding_params: N given explicitly (positive int) instead of counted from the model.
        convention: "kaplan" (N without token/position embeddings, Kaplan et al. 2020) or "total"
            (every parameter, Hoffmann et al. 2022).
        n_layer, n_ctx, d_attn: all three add the context term to the compute,
            C = (6N + 6·n_layer·n_ctx·d_attn)·D (Kaplan et al. 2020 eq. 2.2, Table 1).
        tokens_per_epoch: unique training tokens in one epoch; epochs = D / tokens_per_epoch. When
            None, epochs are passes over the training dataloader (micro-batches seen /
            trainer.num_training_batches); not logged (one warning) when that length is unknown.

    Every training micro-batch is counted (gradient accumulation included), on every rank; the
    count stays on the device and is summed over ranks only when read (validation end, checkpoint).
    """

    def __init__(self, monitor: str = "val_loss", train_monitor: Optional[str] = "train_loss",
                 tokens_in_batch: Optional[Callable] = None, non_embedding_params: Optional[int] = None,
                 convention: str = "kaplan", n_layer: Optional[int] = None, n_ctx: Optional[int] = None,
                 d_attn: Optional[int] = None, tokens_per_epoch: Optional[int] = None):
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"monitor must be a metric name, got {monitor!r}")
        if train_monitor is not None and (not isinstance(train_monitor, str) or not train_monitor):
            raise ValueError(f"train_monitor must be a metric name or None, got {train_monitor!r}")
        if convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {convention!r}; use one of {CONVENTIONS}")
        if tokens_in_batch is not None and not callable(tokens_in_batch):
            raise ValueError(f"tokens_in_batch must be a callable fn(batch) -> count, got {tokens_in_batch!r}")
        context_flops_per_token(n_layer, n_ctx, d_attn)  # validates the context sizes
        self.monitor = monitor
        self.train_monitor = train_monitor
        self.convention = convention
        self.non_embedding_params = _positive_int(non_embedding_params, "non_embedding_params")
        self.n_layer, self.n_ctx, self.d_attn = n_layer, n_ctx, d_attn
        self.tokens_per_epoch = _positive_int(tokens_per_epoch, "tokens_per_epoch")
        self.n_params: Optional[int] = self.non_embedding_params  # N, counted at fit start unless given
        self.history = History()
        self._counter = TokenCounter(tokens_in_batch)
        self._tokens_restored = 0  # global count at the checkpoint this run resumed from
        self._train_batches = 0  # training micro-batches this rank has seen, resumes included
        self._strategy = None
        self._warned = set()

    # ---- Lightning hooks -----------------------------------------------------------------
    @property
    def state_key(self) -> str:
        """Distinct for instances with different settings, stable across processes and resumes."""
        settings = dict(monitor=self.monitor, convention=self.convention,
                        non_embedding_params=self.non_embedding_params,
                        n_layer=self.n_layer, n_ctx=self.n_ctx, d_attn=self.d_attn)
        return f"{type(self).__qualname__}{settings!r}"

    def on_fit_start(self, trainer, pl_module) -> None:
        self._strategy = trainer.strategy
        if self.non_embedding_params is None:
            self.n_params = count_non_embedding_params(pl_module, self.convention)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._counter.add_batch(batch)
        self._train_batches += 1

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or getattr(trainer.state, "fn", None) != "fit":
            return
        observation = self._observe(trainer)
        self.history.append(observation)
        self._log_metrics(trainer, self._scale_metrics(trainer, observation))

    def state_dict(self) -> Dict[str, object]:
        """Plain numbers. Under DDP every rank must call it together (it sums the token count)."""
        return {"tokens": self._read_tokens(), "train_batches": self._train_batches,
                "history": self.history.state_dict()}

    def load_state_dict(self, state_dict: Dict[str, object]) -> None:
        self._tokens_restored = int(state_dict["tokens"])
        self._train_batches = int(state_dict["train_batches"])
        self._counter.reset()
        self.history = History.from_state_dict(state_dict["history"])

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        states = checkpoint.get("callbacks") or {}
        if self.state_key in states:
            return
        prefix = type(self).__qualname__
        others = [key for key in states if isinstance(key, str) and key.startswith(prefix)]
        why = (f"it holds {others}, saved with other settings" if others
               else "it holds no state of this callback")
        self._warn_once(trainer, "resume", f"{prefix}: the checkpoint has no state under {self.state_key!r} ({why}); "
                        "the token count and history restart from zero. Resume with the settings the run "
                        "was started with to continue its counts.")

    # ---- the core, shared by every namespace ---------------------------------------------
    def _read_tokens(self) -> int:
        """Training tokens D so far, summed over ranks (a collective under DDP)."""
        strategy = self._strategy
        if strategy is None:
            return self._tokens_restored + self._counter.read()
        local = self._counter.read(lambda t: strategy.reduce(t, reduce_op="sum"), strategy.root_device)
        return self._tokens_restored + local

    def _observe(self, trainer) -> Observation:
        tokens = self._read_tokens()
        flops = training_flops(self.n_params, tokens, self.n_layer, self.n_ctx, self.d_attn)
        val_loss = self._metric(trainer, self.monitor, warn=True)
        train_loss = self._metric(trainer, self.train_monitor, warn=False) if self.train_monitor else math.nan
        return Observation(step=int(trainer.global_step), tokens=tokens, flops=flops,
                           val_loss=val_loss, train_loss=train_loss)

    def _scale_metrics(self, trainer, observation: Observation) -> Dict[str, float]:
        metrics = {
            TAG_PARAMS[self.convention]: float(self.n_params),
            TAG_TOKENS: float(observation.tokens),
            TAG_FLOPS: observation.flops,
            TAG_PF_DAYS: pf_days(observation.flops),
            TAG_TOKENS_PER_PARAM: tokens_per_param(observation.tokens, self.n_params),
        }
        epochs = self._epochs(trainer, observation.tokens)
        if epochs is not None:
            metrics[TAG_EPOCHS] = epochs
        return metrics

    def _epochs(self, trainer, tokens: int) -> Optional[float]:
        if self.tokens_per_epoch is not None:
            return epochs_seen(tokens, self.tokens_per_epoch)
        per_epoch = trainer.num_training_batches
        if math.isfinite(per_epoch) and per_epoch > 0:
            return self._train_batches / per_epoch
        self._warn_once(trainer, "epochs", f"{type(self).__qualname__}: the training dataloader has no "
                        f"length, so {TAG_EPOCHS} is not logged; pass tokens_per_epoch= (unique tokens per epoch)")
        return None

    def _metric(self, trainer, key: str, warn: bool) -> float:
        value = trainer.callback_metrics.get(key)
        try:
            return float(value)
        except (TypeError, ValueError, RuntimeError):
            pass
        if warn:
            found = "is not logged" if value is None else f"is not one number ({value!r})"
            self._warn_once(trainer, f"metric:{key}", f"{type(self).__qualname__}: the monitored metric {key!r} "
                            f"{found}; available: {sorted(trainer.callback_metrics)}. Its history records NaN. "
                            f"Log it with self.log({key!r}, ...) in validation_step or pass monitor=.")
        return math.nan

    def _log_metrics(self, trainer, metrics: Dict[str, float]) -> None:
        """Every logger of the trainer, at its global step (self.log is refused in on_validation_end)."""
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)

    def _warn_once(self, trainer, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        if trainer.is_global_zero:
            warnings.warn(message, UserWarning, stacklevel=2)
