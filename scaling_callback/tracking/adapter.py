"""What every framework adapter (the Lightning and HF callbacks) shares: its metric names
checked, and its ScalingTracker built from the settings all adapters take (`TrackerSettings`)."""
from __future__ import annotations

from typing import Mapping, Optional

from .settings import TrackerSettings
from .tracker import ScalingTracker


def adapter_tracker(owner, monitor: str, train_monitor: Optional[str], settings: Optional[TrackerSettings],
                    overrides: Mapping[str, object]) -> ScalingTracker:
    """A ScalingTracker for the adapter `owner` (its warnings and errors named after `owner`'s
    class), after checking the metric names; `settings` with the keyword `overrides` of
    `owner`'s constructor (`TrackerSettings.of`)."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must be a metric name, got {monitor!r}")
    if train_monitor is not None and (not isinstance(train_monitor, str) or not train_monitor):
        raise ValueError(f"train_monitor must be a metric name or None, got {train_monitor!r}")
    tracker = ScalingTracker(monitor=monitor, settings=TrackerSettings.of(settings, overrides, type(owner).__qualname__))
    tracker.name = type(owner).__qualname__
    return tracker
