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
from .model import ModelState
from .params import ModelParams

MEASURE = "measure"
SERIES_CAP = 1_000_000       # the default limit on metrics per detector, at most
STATE_BUDGET = 2 << 30       # bytes of model state the default limit allows


class TooManySeries(ValueError):
    """More metrics (measure × dimension combination) than a detector may hold."""

    def __init__(self, count: int, limit: int):
        super().__init__(
            f"{count:,} time series (measure x combination of dimension values), more than "
            f"the limit of {limit:,}: check the dimensions for unbounded values (ids, "
            "free text) or raise Limits.MaxTimeSeries in the definition")


def default_max_series(interval_seconds: int) -> int:
    """The default metric limit: :data:`SERIES_CAP`, lower when the model state of that
    many metrics would pass :data:`STATE_BUDGET` (short intervals keep more slots)."""
    state = ModelState.empty(Calendar(interval_seconds), ModelParams(), 1)
    per_series = sum(array.nbytes for array in state.arrays().values())
    return min(SERIES_CAP, STATE_BUDGET // per_series)


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
                 first: int | None = None, last: int | None = None,
                 max_series: int | None = None) -> MetricMatrix:
    """Aggregate ``records`` (timestamp, dimensions, measures) into a matrix.

    ``measures`` are (name, "SUM"|"AVG") pairs; ``keys`` the known metrics (new ones are
    appended); ``first``/``last`` widen the interval range beyond the records' own.
    More than ``max_series`` metrics raise :class:`TooManySeries` before the matrix is
    allocated. Aggregation works on integer codes (dimension combinations and
    intervals) with ``np.bincount``, so it costs a few passes over the records.
    """
    keys = empty_keys(dimensions) if keys is None else keys
    numbers = calendar.interval_number(epoch_seconds(records["timestamp"]))
    bounds = [int(numbers.min()), int(numbers.max())] if len(numbers) else []
    bounds += [v for v in (first, last) if v is not None]
    if not bounds:
        raise ValueError("no records and no interval range given")
    lo, hi = min(bounds), max(bounds)
    combo_code, combos = _combinations(records, dimensions)
    values = {name: records[name].to_numpy(np.float64) for name, _ in measures}
    present = {name: np.bincount(combo_code[~np.isnan(v)], minlength=len(combos)) > 0
               for name, v in values.items()}
    seen = pd.concat([combos[p].assign(**{MEASURE: name}) for name, p in present.items()],
                     ignore_index=True)
    keys = _extend_keys(keys, seen, dimensions, [m for m, _ in measures])
    if max_series is not None and len(keys) > max_series:
        raise TooManySeries(len(keys), max_series)
    cell = numbers - lo                        # in place from here: records-long arrays
    del numbers                                # are the peak of a large aggregation
    cell *= len(combos)
    cell += combo_code
    del combo_code
    size = (hi - lo + 1) * len(combos)
    out = np.full((hi - lo + 1, len(keys)), np.nan)
    positions = _key_positions(keys, combos, dimensions)
    for name, agg in measures:
        if not present[name].any():
            continue
        v = values[name]
        ok = ~np.isnan(v)
        cells, v = (cell, v) if ok.all() else (cell[ok], v[ok])   # copies only with gaps
        count = np.bincount(cells, minlength=size)
        value = np.bincount(cells, weights=v, minlength=size)   # the SUM, then in place:
        if agg != "SUM":
            value /= np.maximum(count, 1)
        value[count == 0] = np.nan
        del count
        grid = value.reshape(hi - lo + 1, len(combos))
        out[:, positions[name][present[name]]] = grid[:, present[name]]
    return MetricMatrix(np.arange(lo, hi + 1, dtype=np.int64), out, keys)


def _combinations(records: pd.DataFrame, dimensions: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """A code per record for its dimension combination (in order of first appearance),
    and the combinations (as str).

    Each dimension is factorized alone (cheap on the reader's categorical columns), only
    its distinct values are turned into text, and the per-dimension codes are combined
    into one code per record, re-numbered after each dimension so it stays small.
    """
    if not dimensions:
        return np.zeros(len(records), np.int64), pd.DataFrame(index=[0])
    combined = np.zeros(len(records), np.int64)
    per_dim = []
    for dim in dimensions:
        codes, uniques = pd.factorize(records[dim], use_na_sentinel=False)
        text_codes, text = pd.factorize(np.asarray(uniques, dtype=object).astype(str))
        codes = text_codes[codes]              # values with the same text are one value
        per_dim.append((codes, text))
        combined, _ = pd.factorize(combined * len(text) + codes)
    # pd.factorize numbers values in order of first appearance: a code appears first where
    # it exceeds every code before it (one pass, where np.unique would sort the records)
    running = np.maximum.accumulate(combined)
    first = np.flatnonzero(np.concatenate([[True], combined[1:] > running[:-1]])) \
        if len(combined) else np.zeros(0, np.int64)
    combos = pd.DataFrame({dim: np.asarray(text, dtype=object)[codes[first]]
                           for dim, (codes, text) in zip(dimensions, per_dim)})
    return combined.astype(np.int64, copy=False), combos


def _extend_keys(keys: pd.DataFrame, seen: pd.DataFrame, dimensions: list[str],
                 measure_order: list[str]) -> pd.DataFrame:
    """Append the (measure, combination) pairs not in ``keys``, in a stable order."""
    if not len(seen):
        return keys
    merged = seen.merge(keys.assign(_known=True), on=[MEASURE, *dimensions], how="left")
    new = merged[merged["_known"].isna()].drop(columns="_known")
    if not len(new):
        return keys
    new = new.assign(_m=new[MEASURE].map({m: i for i, m in enumerate(measure_order)}))
    new = new.sort_values(["_m", *dimensions], kind="stable").drop(columns="_m")
    return pd.concat([keys, new[[MEASURE, *dimensions]]], ignore_index=True).astype(object)


def _key_positions(keys: pd.DataFrame, combos: pd.DataFrame, dimensions: list[str]) -> dict:
    """Per measure, the key-table column of each combination (-1 when unknown)."""
    pos = keys.reset_index(drop=True).reset_index().rename(columns={"index": "_col"})
    out = {}
    for measure, part in pos.groupby(MEASURE, sort=False):
        if dimensions:
            joined = combos.merge(part, on=dimensions, how="left")
        else:
            joined = part.iloc[:1]
        out[measure] = joined["_col"].fillna(-1).to_numpy(np.int64)
    return out
