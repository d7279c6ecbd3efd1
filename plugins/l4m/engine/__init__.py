"""The embedded detection engine: pure numerics, no Airflow, no file or network I/O.

records → :func:`build_matrix` → :class:`Detector` (``learn`` / ``detect``) →
:class:`IntervalResult` (anomalies with severity, groups, dimension contributions).
"""
from .calendar import Calendar
from .detector import Detector, IntervalResult
from .matrix import MetricMatrix, build_matrix
from .params import ModelParams

__all__ = ["Calendar", "Detector", "IntervalResult", "MetricMatrix", "ModelParams", "build_matrix"]
