"""The detector: metric keys + model state + open groups, and the one detection path.

``learn`` feeds history without producing results (activation, the backtest's 70 %);
``detect`` scores intervals and returns one :class:`IntervalResult` each. Backtest,
replay and the scheduled task all call these two methods.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .calendar import Calendar
from .groups import GroupTracker, contribution_shares, describe_group, related_groups
from .matrix import MEASURE, MetricMatrix, build_matrix, empty_keys
from .model import ModelState, learn_block, score_block, split_blocks
from .params import ModelParams
from .severity import breadth_factor, coherent_z, feedback_damping, severity


@dataclass
class IntervalResult:
    """What one interval produced.

    ``rows`` holds the anomalous metrics (severity > 0) as arrays: series (column
    index), measure, combo (dimension values), value, expected, lower, upper, z,
    severity; :attr:`anomalies` shows them as a DataFrame with the key columns.
    """

    number: int
    epoch: int                       # UTC epoch seconds of the interval start
    rows: dict                       # arrays of the anomalous metrics (see above)
    contributions: list[tuple]       # (metricName, dimensionName, dimensionValue, valueContribution)
    groups: list[dict]               # groups touched by this interval (GetAnomalyGroup shape + series)
    dimensions: list[str]
    scores: dict | None = None       # every scored metric (when asked for): series, value,
                                     # expected, lower, upper, severity arrays
    metrics_scored: int = 0

    @property
    def anomalies(self) -> pd.DataFrame:
        r = self.rows
        frame = pd.DataFrame({MEASURE: r["measure"]})
        for i, dim in enumerate(self.dimensions):
            frame[dim] = [c[i] for c in r["combo"]]
        for col in ("series", "value", "expected", "lower", "upper", "z", "severity"):
            frame[col] = r[col]
        return frame


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
    max_series: int | None = None            # metric limit (TooManySeries); None: unchecked

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
                         calendar=self.calendar, keys=self.keys, first=first, last=last,
                         max_series=self.max_series)
        self.state.grow(len(m.keys) - self.state.n_series)
        self.keys = m.keys
        return m

    def learn(self, matrix: MetricMatrix) -> None:
        """Learn from intervals without producing results."""
        for sl in split_blocks(matrix.numbers, self.calendar):
            learn_block(self.state, matrix.numbers[sl], matrix.values[sl])

    def detect(self, matrix: MetricMatrix, *, with_scores: bool = False) -> list[IntervalResult]:
        """Score every interval of ``matrix`` in order; learn from it as it goes."""
        return list(self.detect_each(matrix, with_scores=with_scores))

    def detect_each(self, matrix: MetricMatrix, *,
                    with_scores: bool = False) -> Iterator[IntervalResult]:
        """:meth:`detect`, one result at a time: a long run need not hold them all.

        The model learns a whole day before that day's first result is yielded, so a
        consumer that stops early must discard the detector: its model is ahead of its
        groups.
        """
        measure_of = self.keys[MEASURE].map(
            {m: i for i, m in enumerate(self.measure_names)}).to_numpy(np.int64)
        groups = self._dimension_groups(measure_of)
        for sl in split_blocks(matrix.numbers, self.calendar):
            fb_level, fb_sign = self.state.fb_level.copy(), self.state.fb_sign.copy()
            block = score_block(self.state, matrix.numbers[sl], matrix.values[sl])
            breadth = breadth_factor(block.z, measure_of, len(self.measures), self.params)
            damping = feedback_damping(block.z, fb_level, fb_sign, self.params)
            pooled = coherent_z(block.z, groups, self.params)
            sev = severity(pooled, breadth, damping, self.params)
            epochs = self.calendar.epoch_seconds(block.numbers).tolist()
            scored = np.isfinite(block.z)
            n_scored = scored.sum(axis=1).tolist()
            values = matrix.values[sl]
            bounds, rows, members = self._block_anomalies(block, values, sev)
            for i, epoch in enumerate(epochs):
                a, b = bounds[i], bounds[i + 1]
                scores = _scored(np.flatnonzero(scored[i]), block, i, values[i], sev[i]) \
                    if with_scores else None
                yield self._interval_result(int(block.numbers[i]), epoch,
                                            {k: v[a:b] for k, v in rows.items()},
                                            _members_by_measure(members[a:b]), scores,
                                            n_scored[i])

    def _dimension_groups(self, measure_of: np.ndarray) -> list[np.ndarray]:
        """Per dimension, a code per metric for its (measure, dimension value) pair."""
        out = []
        for dim in self.dimensions:
            values = pd.factorize(self.keys[dim].astype(str))[0]
            out.append(measure_of * (int(values.max()) + 1 if len(values) else 1) + values)
        return out

    def _block_anomalies(self, block, values, sev) -> tuple[list[int], dict, list[tuple]]:
        """The anomalous metrics (severity > 0) of a whole block, interval by interval:
        where each interval's rows start, the rows' arrays and their group members."""
        at, idx = np.nonzero(sev > 0)
        bounds = np.searchsorted(at, np.arange(len(block.numbers) + 1)).tolist()
        columns = self._key_columns()
        combos = list(zip(*(columns[d][idx] for d in self.dimensions))) if self.dimensions \
            else [()] * len(idx)
        rows = {"series": idx, "value": values[at, idx], "expected": block.expected[at, idx],
                "lower": block.lower[at, idx], "upper": block.upper[at, idx],
                "severity": sev[at, idx], "measure": columns[MEASURE][idx], "combo": combos,
                "z": block.z[at, idx]}
        deviation = np.abs(rows["value"] - rows["expected"]).tolist()
        members = list(zip(rows["measure"].tolist(), idx.tolist(), combos,
                           rows["value"].tolist(), deviation, rows["severity"].tolist()))
        return bounds, rows, members

    def _interval_result(self, number, epoch, rows, members, scores,
                         metrics_scored) -> IntervalResult:
        return IntervalResult(
            number=number, epoch=epoch, rows=rows,
            contributions=_interval_contributions(members, self.dimensions),
            groups=self._update_groups(number, epoch, members),
            dimensions=self.dimensions, scores=scores, metrics_scored=metrics_scored)

    def _key_columns(self) -> dict[str, np.ndarray]:
        """The key table as string arrays, rebuilt only when metrics were added."""
        if getattr(self, "_key_cache", (None, -1))[1] != len(self.keys):
            cols = {c: self.keys[c].astype(str).to_numpy(dtype=object) for c in self.keys.columns}
            self._key_cache = (cols, len(self.keys))
        return self._key_cache[0]

    def _update_groups(self, number: int, epoch: int, members: dict) -> list[dict]:
        touched = {m: self.tracker.update(number, epoch, m, rows) for m, rows in members.items()}
        self.tracker.close_idle(number)
        if not touched:
            return []
        related = related_groups(touched)
        return [describe_group(g, self.dimensions, related.get(m, [])) for m, g in touched.items()]

    def feedback(self, series: int, z: float, is_anomaly: bool) -> None:
        """Record a user's verdict on one metric's deviation of robust size ``z``."""
        if is_anomaly:
            self.state.fb_level[series], self.state.fb_sign[series] = 0.0, 0
        else:
            level = max(float(self.state.fb_level[series]), abs(z))
            self.state.fb_level[series], self.state.fb_sign[series] = level, int(np.sign(z))


def _scored(idx, block, i, values, sev) -> dict:
    """Arrays of the metrics ``idx`` at block row ``i``, without their key columns."""
    return {"series": idx, "value": values[idx], "expected": block.expected[i, idx],
            "lower": block.lower[i, idx], "upper": block.upper[i, idx], "severity": sev[idx]}


def _members_by_measure(members: list[tuple]) -> dict[str, list[tuple]]:
    """Per measure, (series, combo, value, |deviation|, severity) of each anomalous metric."""
    out: dict[str, list[tuple]] = {}
    for measure, *member in members:
        out.setdefault(measure, []).append(tuple(member))
    return out


def _interval_contributions(members: dict[str, list[tuple]],
                            dimensions: list[str]) -> list[tuple]:
    """(metricName, dimensionName, dimensionValue, valueContribution) rows of one interval."""
    return [(measure, name, value, score)
            for measure, rows in members.items()
            for name, ranked in contribution_shares(dimensions, [r[1] for r in rows],
                                                    [r[3] for r in rows])
            for value, score in ranked]
