"""The detector: metric keys + model state + open groups, and the one detection path.

``learn`` feeds history without producing results (activation, the backtest's 70 %);
``detect`` scores intervals and returns one :class:`IntervalResult` each. Backtest,
replay and the scheduled task all call these two methods.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calendar import Calendar
from .groups import GroupTracker, contributions, describe_group, related_groups
from .matrix import MEASURE, MetricMatrix, build_matrix, empty_keys
from .model import ModelState, score_block, split_blocks
from .params import ModelParams
from .severity import breadth_factor, coherent_z, feedback_damping, severity


@dataclass
class IntervalResult:
    """What one interval produced. ``anomalies`` and ``scores`` have one row per metric."""

    number: int
    epoch: int                       # UTC epoch seconds of the interval start
    anomalies: pd.DataFrame          # severity > 0: measure, dims, value, expected, lower, upper, z, severity
    contributions: list[tuple]       # (metricName, dimensionName, dimensionValue, valueContribution)
    groups: list[dict]               # groups touched by this interval (GetAnomalyGroup shape + series)
    scores: pd.DataFrame | None = None   # every scored metric (when asked for)
    metrics_scored: int = 0


@dataclass
class Detector:
    """An anomaly detector over a fixed set of measures and dimensions."""

    name: str
    measures: list[tuple[str, str]]          # (name, SUM|AVG)
    dimensions: list[str]
    calendar: Calendar
    params: ModelParams = field(default_factory=ModelParams)
    state: ModelState | None = None
    keys: pd.DataFrame | None = None
    tracker: GroupTracker | None = None

    def __post_init__(self) -> None:
        if self.keys is None:
            self.keys = empty_keys(self.dimensions)
        if self.state is None:
            self.state = ModelState.empty(self.calendar, self.params, len(self.keys))
        if self.tracker is None:
            self.tracker = GroupTracker(self.name)

    @property
    def measure_names(self) -> list[str]:
        return [m for m, _ in self.measures]

    def matrix(self, records: pd.DataFrame, first: int | None = None,
               last: int | None = None) -> MetricMatrix:
        """Aggregate records onto this detector's metric columns (adding new ones)."""
        m = build_matrix(records, measures=self.measures, dimensions=self.dimensions,
                         calendar=self.calendar, keys=self.keys, first=first, last=last)
        self.state.grow(len(m.keys) - self.state.n_series)
        self.keys = m.keys
        return m

    def learn(self, matrix: MetricMatrix) -> None:
        """Learn from intervals without producing results."""
        for sl in split_blocks(matrix.numbers, self.calendar):
            score_block(self.state, matrix.numbers[sl], matrix.values[sl])

    def detect(self, matrix: MetricMatrix, *, with_scores: bool = False) -> list[IntervalResult]:
        """Score every interval of ``matrix`` in order; learn from it as it goes."""
        measure_of = self.keys[MEASURE].map(
            {m: i for i, m in enumerate(self.measure_names)}).to_numpy(np.int64)
        groups = self._dimension_groups(measure_of)
        results: list[IntervalResult] = []
        for sl in split_blocks(matrix.numbers, self.calendar):
            fb_level, fb_sign = self.state.fb_level.copy(), self.state.fb_sign.copy()
            block = score_block(self.state, matrix.numbers[sl], matrix.values[sl])
            breadth = breadth_factor(block.z, measure_of, len(self.measures), self.params)
            damping = feedback_damping(block.z, fb_level, fb_sign, self.params)
            pooled = coherent_z(block.z, groups, self.params)
            sev = severity(pooled, breadth, damping, self.params)
            for i in range(len(block.numbers)):
                results.append(self._interval_result(block, i, matrix.values[sl][i], sev[i],
                                                     with_scores))
        return results

    def _dimension_groups(self, measure_of: np.ndarray) -> list[np.ndarray]:
        """Per dimension, a code per metric for its (measure, dimension value) pair."""
        out = []
        for dim in self.dimensions:
            values = pd.factorize(self.keys[dim].astype(str))[0]
            out.append(measure_of * (int(values.max()) + 1 if len(values) else 1) + values)
        return out

    def _interval_result(self, block, i, values, sev, with_scores) -> IntervalResult:
        number = int(block.numbers[i])
        epoch = int(self.calendar.epoch_seconds(np.array([number]))[0])
        scored = np.flatnonzero(np.isfinite(block.z[i]))
        anomalies = self._rows(np.flatnonzero(sev > 0), block, i, values, sev)
        groups = self._update_groups(number, epoch, anomalies)
        return IntervalResult(
            number=number, epoch=epoch, anomalies=anomalies,
            contributions=_interval_contributions(anomalies, self.dimensions),
            groups=groups, scores=self._rows(scored, block, i, values, sev) if with_scores else None,
            metrics_scored=len(scored))

    def _rows(self, idx, block, i, values, sev) -> pd.DataFrame:
        """Result rows (keys plus scores) of the metrics ``idx`` at block row ``i``."""
        return self.keys.iloc[idx].reset_index(drop=True).assign(
            series=idx, value=values[idx], expected=block.expected[i, idx],
            lower=block.lower[i, idx], upper=block.upper[i, idx], z=block.z[i, idx],
            severity=sev[idx])

    def _update_groups(self, number: int, epoch: int, anomalies: pd.DataFrame) -> list[dict]:
        by_measure: dict[str, list[tuple]] = {}
        for row in _members(anomalies, self.dimensions):
            by_measure.setdefault(row[0], []).append(row[1:])
        touched = {m: self.tracker.update(number, epoch, m, rows) for m, rows in by_measure.items()}
        self.tracker.close_idle(number)
        related = related_groups(touched)
        return [describe_group(g, self.dimensions, related.get(m, [])) for m, g in touched.items()]

    def feedback(self, series: int, z: float, is_anomaly: bool) -> None:
        """Record a user's verdict on one metric's deviation of robust size ``z``."""
        if is_anomaly:
            self.state.fb_level[series], self.state.fb_sign[series] = 0.0, 0
        else:
            level = max(float(self.state.fb_level[series]), abs(z))
            self.state.fb_level[series], self.state.fb_sign[series] = level, int(np.sign(z))


def _members(anomalies: pd.DataFrame, dimensions: list[str]) -> list[tuple]:
    """(measure, series, combo, value, |deviation|, severity) per anomalous metric."""
    if anomalies.empty:
        return []
    combos = zip(*(anomalies[d].astype(str).tolist() for d in dimensions)) if dimensions \
        else [()] * len(anomalies)
    deviation = (anomalies["value"] - anomalies["expected"]).abs().tolist()
    return list(zip(anomalies[MEASURE].tolist(), anomalies["series"].tolist(), combos,
                    anomalies["value"].tolist(), deviation, anomalies["severity"].tolist()))


def _interval_contributions(anomalies: pd.DataFrame, dimensions: list[str]) -> list[tuple]:
    """(metricName, dimensionName, dimensionValue, valueContribution) rows of one interval."""
    by_measure: dict[str, tuple[list, list]] = {}
    for measure, _, combo, _, deviation, _ in _members(anomalies, dimensions):
        combos, devs = by_measure.setdefault(measure, ([], []))
        combos.append(combo)
        devs.append(deviation)
    return [(measure, dim["DimensionName"], item["DimensionValue"], item["ContributionScore"])
            for measure, (combos, devs) in by_measure.items()
            for dim in contributions(dimensions, combos, devs)
            for item in dim["DimensionValueContributionList"]]
