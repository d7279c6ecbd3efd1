"""Sensors of the L4M provider."""
from __future__ import annotations

from l4m.sensors.storage import AnomalyResultsSensor, DetectorStatusSensor, IntervalDataSensor

__all__ = ["AnomalyResultsSensor", "DetectorStatusSensor", "IntervalDataSensor"]
