"""What every framework adapter (the Lightning and HF callbacks) shares: its metric names
checked, and its ScalingTracker built from the settings all adapters take."""
from __future__ import annotations

from typing import Optional

from .tracker import ScalingTracker


def adapter_tracker(owner, monitor: str, train_monitor: Optional[str], **settings) -> ScalingTracker:
    """A ScalingTracker for the adapter `owner` (its warnings named after `owner`'s class), after
    checking the metric names; `settings` are ScalingTracker's keyword arguments."""
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"monitor must be a metric name, got {monitor!r}")
    if train_monitor is not None and (not isinstance(train_monitor, str) or not train_monitor):
        raise ValueError(f"train_monitor must be a metric name or None, got {train_monitor!r}")
    tracker = ScalingTracker(monitor=monitor, **settings)
    tracker.name = type(owner).__qualname__
    return tracker
