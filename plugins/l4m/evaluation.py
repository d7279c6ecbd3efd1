"""Event-level accuracy of flagged points against labels (the definition the project uses).

An *event* is a run of consecutive labelled intervals of one metric. It is found when
a flagged point of that metric lies within ``tolerance`` intervals of it. A *false
run* is a run of consecutive flagged intervals that touches no event (± tolerance).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class EventScore:
    events: int
    found: int
    flagged_runs: int
    false_runs: int

    @property
    def recall(self) -> float:
        return self.found / self.events if self.events else float("nan")

    @property
    def precision(self) -> float:
        return (self.flagged_runs - self.false_runs) / self.flagged_runs if self.flagged_runs else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    def __add__(self, other: EventScore) -> EventScore:
        return EventScore(self.events + other.events, self.found + other.found,
                          self.flagged_runs + other.flagged_runs, self.false_runs + other.false_runs)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def _touches(starts, ends, marks: np.ndarray, tolerance: int) -> np.ndarray:
    """For each run, whether any marked index lies within [start - tol, end + tol]."""
    cum = np.concatenate([[0], np.cumsum(marks)])
    lo = np.clip(starts - tolerance, 0, len(marks))
    hi = np.clip(ends + tolerance + 1, 0, len(marks))
    return cum[hi] - cum[lo] > 0


def score_series(labels: np.ndarray, flags: np.ndarray, tolerance: int = 1) -> EventScore:
    labels, flags = labels.astype(bool), flags.astype(bool)
    ev_s, ev_e = _runs(labels)
    fl_s, fl_e = _runs(flags)
    found = int(_touches(ev_s, ev_e, flags, tolerance).sum())
    false = int((~_touches(fl_s, fl_e, labels, tolerance)).sum())
    return EventScore(len(ev_s), found, len(fl_s), false)


def score_events(truth: pd.DataFrame, flagged: pd.DataFrame, keys: list[str], label: str,
                 start=None, tolerance: int = 1) -> EventScore:
    """``truth``: one row per (keys, timestamp) with a 0/1 ``label`` column;
    ``flagged``: the (keys, timestamp) rows that were flagged. Scored from ``start`` on."""
    t = truth[[*keys, "timestamp", label]]
    if start is not None:
        t = t[t["timestamp"] >= start]
    f = flagged[[*keys, "timestamp"]].drop_duplicates().assign(_flag=True)
    merged = t.merge(f, on=[*keys, "timestamp"], how="left").sort_values([*keys, "timestamp"])
    merged["_flag"] = merged["_flag"].fillna(False).astype(bool)
    total = EventScore(0, 0, 0, 0)
    for _, g in merged.groupby(keys, sort=False):
        total = total + score_series(g[label].to_numpy(), g["_flag"].to_numpy(), tolerance)
    return total


def flagged_points(out_dir, measure: str, dims: list[str], sensitivity: float) -> pd.DataFrame:
    """The (dims, timestamp) points written as anomalous for ``measure`` at ``sensitivity``
    in the ``metricValueAnomalyScore`` files under ``out_dir``."""
    from pathlib import Path

    from .io.cells import restore_cell
    from .io.results import SCORE_DIR

    files = sorted((Path(out_dir) / SCORE_DIR).glob("*.csv"))
    cols = [*dims, "timestamp"]
    if not files:
        return pd.DataFrame(columns=cols)
    table = pd.concat([pd.read_csv(f, dtype={d: str for d in dims}) for f in files])
    hit = table[table[f"{measure}GroupScore"].fillna(-1) >= sensitivity]
    return hit.assign(timestamp=pd.to_datetime(hit["Timestamp"]),
                      **{d: hit[d].map(restore_cell) for d in dims})[cols]
