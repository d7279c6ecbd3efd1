"""Season geometry: how interval numbers map to slots of the day and of the week.

Interval number ``n`` counts intervals since the Unix epoch in the detector's local
standard time (a fixed offset: seasonal slots do not jump at daylight-saving changes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DAY = 86_400
WEEK = 7 * DAY


@dataclass(frozen=True)
class Calendar:
    """Interval length and the slots it implies."""

    interval_seconds: int
    utc_offset_seconds: int = 0

    def __post_init__(self) -> None:
        if self.interval_seconds < 60:
            raise ValueError("interval must be at least 60 seconds")
        if self.interval_seconds < DAY and DAY % self.interval_seconds:
            raise ValueError("an interval shorter than a day must divide the day evenly")
        if self.interval_seconds >= DAY and self.interval_seconds % DAY:
            raise ValueError("an interval of a day or more must be whole days")

    @property
    def per_day(self) -> int:
        """Daily slots (1 for intervals of a day or more)."""
        return max(1, DAY // self.interval_seconds)

    @property
    def per_week(self) -> int:
        """Weekly slots (1 when the interval does not divide a week)."""
        if WEEK % self.interval_seconds:
            return 1
        return WEEK // self.interval_seconds

    def interval_number(self, epoch_seconds: np.ndarray) -> np.ndarray:
        """Interval numbers of UTC epoch seconds (floored to the interval start)."""
        local = np.asarray(epoch_seconds, dtype=np.int64) + self.utc_offset_seconds
        return np.floor_divide(local, self.interval_seconds)

    def epoch_seconds(self, numbers: np.ndarray) -> np.ndarray:
        """UTC epoch seconds of interval starts."""
        return np.asarray(numbers, dtype=np.int64) * self.interval_seconds - self.utc_offset_seconds

    def day_slot(self, numbers: np.ndarray) -> np.ndarray:
        return np.mod(numbers, self.per_day)

    def week_slot(self, numbers: np.ndarray) -> np.ndarray:
        # Epoch day 0 was a Thursday; shift so slot 0 is Monday 00:00.
        return np.mod(numbers + 3 * self.per_day, self.per_week)

    def day_number(self, numbers: np.ndarray) -> np.ndarray:
        return np.floor_divide(numbers, self.per_day)
