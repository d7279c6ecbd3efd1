"""The engine's constants, in one place, with what each one means.

They are statistical choices, not fitted to any dataset: learning rates are in
"seasons" (days, weeks), thresholds in robust standard deviations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .calendar import DAY, Calendar


@dataclass(frozen=True)
class ModelParams:
    """Tuning of the online seasonal model (defaults suit any interval)."""

    #: share of the daily profile learned from each new day (≈ 1/7: a week of memory)
    alpha_day: float = 0.15
    #: share of the weekly correction learned from each new week
    alpha_week: float = 0.25
    #: share of each slot's noise scale learned from each new day
    alpha_scale: float = 0.10
    #: residuals beyond this many scales are clipped before they update the model
    clip_sigmas: float = 3.0
    #: prior weight (in days) of the series-wide scale when a slot has few samples
    scale_prior_days: float = 3.0
    #: scale floor relative to the series' transform unit (0.2 % of the level for large values)
    scale_floor: float = 0.002
    #: |z| above which a point is an anomaly (severity > 0)
    z_threshold: float = 3.0
    #: |z| above z_threshold that gives severity 50
    z_half: float = 3.0
    #: observed intervals before a metric is scored (cold start): 8 days — a first week
    #: to meet the weekly cycle, plus a day — within [min_warmup, max_warmup] intervals
    warmup_days: float = 8.0
    min_warmup: int = 14
    max_warmup: int = 300
    #: how much severity grows with the number of metrics of one measure anomalous at once
    breadth_gain: float = 0.10
    #: pooled z-scores of one dimension value: each metric's z is clipped at this first
    coherence_clip: float = 4.0
    #: a metric takes its dimension value's pooled score only if its own |z| reaches this
    coherence_min_z: float = 2.0
    #: severity multiplier for deviations like one marked IsAnomaly=false
    feedback_damping: float = 0.25

    def warmup_intervals(self, cal: Calendar) -> int:
        wanted = math.ceil(self.warmup_days * DAY / cal.interval_seconds)
        return min(self.max_warmup, max(self.min_warmup, wanted))
