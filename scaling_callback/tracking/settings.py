"""`TrackerSettings`: the settings every way of running the tracker takes (the Lightning and HF
callbacks and `ScalingTracker` itself), with their defaults and checks written once.

The three classes keep taking each setting as a keyword (`ScalingLawCallback(min_delta=0.02)`);
they also take `settings=TrackerSettings(...)`, with keywords overriding it. A keyword that is
not a setting is a TypeError naming it; a bad value a ValueError naming it.
"""
from __future__ import annotations

import dataclasses
import difflib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Mapping, Optional, Sequence, Tuple, Union

from ..core.checks import positive_number, whole_number
from ..core.compute import context_flops_per_token
from ..core.planning import check_horizons
from ..core.crossrun.trend import load_fit
from .accounting import CONVENTIONS
from .family import checked_family

if TYPE_CHECKING:
    from ..core.crossrun import ScalingLawFit
    from ..core.forecast import Family, FamilyRun


@dataclass(frozen=True)
class TrackerSettings:
    """The settings of a `ScalingTracker` (and of the callbacks over it), checked when made.

        settings = TrackerSettings(min_delta=0.02, confidence=0.9)
        callback = ScalingLawCallback(settings=settings, figure_every=0)  # keywords override it

    Args:
        tokens_in_batch: fn(batch) -> int or integer tensor, the tokens of one training batch;
            default `scaling_callback.tokens_in_batch`.
        non_embedding_params: N given explicitly (positive int) instead of counted from the model.
        convention: "kaplan" (N without token/position embeddings, Kaplan et al. 2020) or "total"
            (every parameter, Hoffmann et al. 2022).
        n_layer, n_ctx, d_attn: all three add the context term to the compute,
            C = (6N + 6·n_layer·n_ctx·d_attn)·D (Kaplan et al. 2020 eq. 2.2, Table 1).
        tokens_per_epoch: unique training tokens in one epoch (epochs = D / tokens_per_epoch); the
            data-limit and repeated-data advice use it.
        forecast: fit and advise at every evaluation (False: scale only).
        horizons, horizon_unit: steps (or tokens, with horizon_unit="tokens") to forecast at when
            the run has no planned end; kept as a sorted tuple.
        lr_schedule: callable(step) -> lr, the planned learning rate of every optimizer step,
            instead of simulating the optimizer's schedulers.
        confidence: probability mass of the forecast interval (0.8: the 80% interval).
        min_delta: loss improvement still worth training for (the recommended stop).
        figure_every: draw the forecast figure at the first forecast, every this many after, at
            the planned end and at the end of training (0: never).
        whatif_every: forecast "cool down now" (the loss at the end of a cool-down started at the
            validation: `core.whatif.cool_down_now`) at the first validation with the rate at its
            peak and every this many after (0: never). Each is one more forecast: every 5th keeps its
            mean cost per validation within 5 ms (benchmarks/overhead.py); 1 gives it at every
            validation.
        fit: a cross-run law of the run's family (a `ScalingLawFit`, or the path of one saved by
            `scaling-callback fit --save`; read here, kept as the `ScalingLawFit`).
        family: the run's family, finished runs of the same recipe (earlier versions, a sweep's
            trials, a ladder): a `Family` (`load_family`), the path of a curve CSV or of a log dir
            written by the callback (a folder of runs: each run in it), a list of such paths, or a
            list of finished `FamilyRun`s. Read once, at the first forecast; each forecast is then
            shifted and its interval calibrated by how the forecast erred on the family's runs
            (`forecast(..., family=)`), the run's own log dir left out. Kept as given (a list as a
            tuple); configuration, not state: pass it again on resume.

    Raises ValueError naming the setting when a value is out of its range or of a wrong type;
    `family` of a wrong type is a TypeError, a path of it that does not exist FileNotFoundError.
    """

    tokens_in_batch: Optional[Callable] = None
    non_embedding_params: Optional[int] = None
    convention: str = "kaplan"
    n_layer: Optional[int] = None
    n_ctx: Optional[int] = None
    d_attn: Optional[int] = None
    tokens_per_epoch: Optional[int] = None
    forecast: bool = True
    horizons: Optional[Sequence[float]] = None  # kept as a sorted tuple
    horizon_unit: str = "steps"
    lr_schedule: Optional[Callable[[int], float]] = None
    confidence: float = 0.8
    min_delta: float = 0.01
    figure_every: int = 10
    whatif_every: int = 5
    fit: Union[ScalingLawFit, str, None] = None  # kept as the ScalingLawFit read
    family: Union[Family, str, Sequence[str], Sequence[FamilyRun], None] = None  # kept as checked_family's

    def __post_init__(self):
        if self.convention not in CONVENTIONS:
            raise ValueError(f"unknown convention {self.convention!r}; use one of {CONVENTIONS}")
        if self.tokens_in_batch is not None and not callable(self.tokens_in_batch):
            raise ValueError(f"tokens_in_batch must be a callable fn(batch) -> count, got {self.tokens_in_batch!r}")
        context_flops_per_token(self.n_layer, self.n_ctx, self.d_attn)  # validates the context sizes
        if self.lr_schedule is not None and not callable(self.lr_schedule):
            raise ValueError(f"lr_schedule must be a callable step -> lr, got {self.lr_schedule!r}")
        if not 0.0 < float(self.confidence) < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence!r}")
        positive_number(self.min_delta, "min_delta", what="a positive loss difference")
        checked = dict(
            figure_every=whole_number(self.figure_every, "figure_every", minimum=0),
            whatif_every=whole_number(self.whatif_every, "whatif_every", minimum=0),
            non_embedding_params=whole_number(self.non_embedding_params, "non_embedding_params", minimum=1,
                                              none_ok=True),
            tokens_per_epoch=whole_number(self.tokens_per_epoch, "tokens_per_epoch", minimum=1, none_ok=True),
            forecast=bool(self.forecast),
            horizons=check_horizons(self.horizons, self.horizon_unit),
            confidence=float(self.confidence),
            min_delta=float(self.min_delta),
            fit=None if self.fit is None else load_fit(self.fit),
            family=checked_family(self.family))
        for name, value in checked.items():  # kept in their checked form (frozen: set once, here)
            object.__setattr__(self, name, value)

    @classmethod
    def names(cls) -> Tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def of(cls, settings: Optional["TrackerSettings"], overrides: Mapping[str, object], owner: str) -> "TrackerSettings":
        """`settings` (default: every default) with the keyword `overrides` of `owner`'s
        constructor replacing its values. A keyword that is not a setting is a TypeError naming it
        (and the setting it is closest to)."""
        for name in overrides:
            if name not in cls.names():
                close = difflib.get_close_matches(name, cls.names(), n=1)
                hint = (f"; did you mean {close[0]!r}?" if close
                        else f"; the settings ({cls.__name__}) are {', '.join(cls.names())}")
                raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}{hint}")
        if settings is None:
            return cls(**overrides)
        if not isinstance(settings, cls):
            raise TypeError(f"{owner}(): settings must be a {cls.__name__}, got {type(settings).__name__}")
        return dataclasses.replace(settings, **overrides)


def with_settings_signature(init: Callable) -> Callable:
    """`init` (a constructor taking `settings=None, **overrides`) shown with every setting as a
    keyword: what `help()`, IDE hints and docs/api.md read (`inspect.signature`)."""
    own = [p for p in inspect.signature(init).parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    hints = {field.name: field.type for field in dataclasses.fields(TrackerSettings)}
    settings = [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                  annotation=hints[field.name]) for field in dataclasses.fields(TrackerSettings)]
    init.__signature__ = inspect.Signature(own + settings)
    return init
