"""Records → metric matrix: aggregate per interval and dimension combination (SUM/AVG).

A *metric* is one measure for one combination of dimension values (L4M's vocabulary).
The matrix has one row per interval (consecutive interval numbers, NaN where a metric
has no value) and one column per metric, in the order of a persisted key table so that
a detector keeps its columns stable as new combinations appear.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calendar import Calendar

MEASURE = "measure"


@dataclass
class MetricMatrix:
    """Values of all metrics over consecutive intervals."""

    numbers: np.ndarray        # (T,) consecutive interval numbers
    values: np.ndarray         # (T, S) float64, NaN = no value
    keys: pd.DataFrame         # (S rows) columns: measure, then each dimension (str)

    def rows(self, sl: slice) -> MetricMatrix:
        return MetricMatrix(self.numbers[sl], self.values[sl], self.keys)


def epoch_seconds(ts: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC epoch seconds of tz-aware timestamps, whatever their pandas resolution."""
    delta = pd.Series(ts) - pd.Timestamp(0, tz="UTC")
    return (delta // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def empty_keys(dimensions: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in [MEASURE, *dimensions]})


def build_matrix(records: pd.DataFrame, *, measures: list[tuple[str, str]], dimensions: list[str],
                 calendar: Calendar, keys: pd.DataFrame | None = None,
                 first: int | None = None, last: int | None = None) -> MetricMatrix:
    """Aggregate ``records`` (timestamp, dimensions, measures) into a matrix.

    ``measures`` are (name, "SUM"|"AVG") pairs; ``keys`` the known metrics (new ones are
    appended); ``first``/``last`` widen the interval range beyond the records' own.
    """
    keys = empty_keys(dimensions) if keys is None else keys
    numbers = calendar.interval_number(epoch_seconds(records["timestamp"]))
    lo = int(numbers.min()) if len(numbers) else first
    hi = int(numbers.max()) if len(numbers) else last
    lo = lo if first is None else min(lo, first)
    hi = hi if last is None else max(hi, last)
    if lo is None:
        raise ValueError("no records and no interval range given")
    frame = records[dimensions].astype(str).assign(_n=numbers)
    long_parts = []
    for name, agg in measures:
        col = records[name].astype(np.float64)
        grouped = frame.assign(_v=col).groupby(["_n", *dimensions], sort=False)["_v"]
        agg_values = grouped.sum(min_count=1) if agg == "SUM" else grouped.mean()
        part = agg_values.dropna().reset_index()
        part.insert(0, MEASURE, name)
        long_parts.append(part)
    long = pd.concat(long_parts, ignore_index=True) if long_parts else None
    keys = _extend_keys(keys, long, dimensions, [m for m, _ in measures])
    out = np.full((hi - lo + 1, len(keys)), np.nan)
    if long is not None and len(long):
        col_index = _key_positions(keys, long, dimensions)
        out[long["_n"].to_numpy(np.int64) - lo, col_index] = long["_v"].to_numpy()
    return MetricMatrix(np.arange(lo, hi + 1, dtype=np.int64), out, keys)


def _extend_keys(keys: pd.DataFrame, long: pd.DataFrame | None, dimensions: list[str],
                 measure_order: list[str]) -> pd.DataFrame:
    if long is None or not len(long):
        return keys
    seen = long[[MEASURE, *dimensions]].drop_duplicates()
    merged = seen.merge(keys.assign(_known=True), on=[MEASURE, *dimensions], how="left")
    new = merged[merged["_known"].isna()].drop(columns="_known")
    if not len(new):
        return keys
    new = new.assign(_m=new[MEASURE].map({m: i for i, m in enumerate(measure_order)}))
    new = new.sort_values(["_m", *dimensions], kind="stable").drop(columns="_m")
    return pd.concat([keys, new], ignore_index=True).astype(object)


def _key_positions(keys: pd.DataFrame, long: pd.DataFrame, dimensions: list[str]) -> np.ndarray:
    pos = keys.reset_index(drop=True).reset_index().rename(columns={"index": "_col"})
    joined = long[[MEASURE, *dimensions]].merge(pos, on=[MEASURE, *dimensions], how="left")
    return joined["_col"].to_numpy(np.int64)
