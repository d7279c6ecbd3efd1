"""Shape conversions for the benchmark: long CSV -> (T, S) panel -> seed result layout.

A *series* is one measure x one dimension combination. Columns of the panel are
ordered measure-major (all combinations of the first measure, then the next), and
``keys`` says, per column, its ``measure`` and dimension values.

:func:`write_seed_layout` writes peer scores in the seed's result layout
(``anomalyResults/metricValueAnomalyScore/<yyyyMMdd>_<HHmmss>_metricValueAnomalyScore.csv``)
so ``/work/shared/tools/eval_results.py`` scores peers exactly as it scores our engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TS_FORMAT = "%Y-%m-%d %H:%M:%S"
LAYOUT_DIR = Path("anomalyResults") / "metricValueAnomalyScore"


@dataclass
class Panel:
    """Series as aligned arrays: ``values``/``labels`` are (T, S); ``keys`` has S rows."""

    values: np.ndarray
    labels: np.ndarray | None
    timestamps: pd.DatetimeIndex
    keys: pd.DataFrame
    measures: list[str]
    dims: list[str]


def load_panel(
    path: str | Path,
    measures: list[str],
    dims: list[str],
    ts_col: str = "timestamp",
    label_suffix: str = "_label",
) -> Panel:
    """Read a long CSV (one row per combination and timestamp) into a :class:`Panel`.

    The time axis is the full hourly grid from the first to the last timestamp, so
    missing rows become NaN. Label columns ``<measure><label_suffix>`` are read when
    present (missing -> 0).
    """
    df = pd.read_csv(path, dtype={d: str for d in dims})
    stamps = pd.to_datetime(df[ts_col], utc=True)
    timestamps = pd.date_range(stamps.min(), stamps.max(), freq="h")
    combos = df[dims].drop_duplicates().sort_values(dims).reset_index(drop=True)
    t_idx = timestamps.get_indexer(stamps)
    c_idx = df[dims].merge(combos.reset_index(), on=dims, how="left")["index"].to_numpy()
    has_labels = all(f"{m}{label_suffix}" in df.columns for m in measures)
    T, C = len(timestamps), len(combos)

    def grid(col: str, fill: float) -> np.ndarray:
        out = np.full((T, C), fill, dtype=float)
        out[t_idx, c_idx] = df[col].to_numpy(dtype=float)
        return out

    values = np.hstack([grid(m, np.nan) for m in measures])
    labels = (
        np.hstack([np.nan_to_num(grid(f"{m}{label_suffix}", 0.0)) for m in measures]).astype(int)
        if has_labels
        else None
    )
    keys = pd.concat([combos.assign(measure=m) for m in measures], ignore_index=True)
    return Panel(
        values=values,
        labels=labels,
        timestamps=timestamps,
        keys=keys[["measure"] + dims],
        measures=list(measures),
        dims=list(dims),
    )


def write_seed_layout(
    scores: np.ndarray,
    keys_frame: pd.DataFrame,
    timestamps: pd.DatetimeIndex,
    values: np.ndarray,
    measures: list[str],
    dims: list[str],
    out_dir: str | Path,
    sensitivity: float = 0.0,
) -> int:
    """Write flagged points in the seed layout; return the number of CSV files written.

    A point is written when its score is > 0 and >= ``sensitivity``. One row per
    dimension combination and timestamp with at least one flagged measure; columns
    ``key, Timestamp, <dims>, <m>AnomalyMetricValue, <m>GroupScore`` for each measure
    (empty when that measure is not flagged in the row). One file per timestamp,
    named ``<yyyyMMdd>_<HHmmss>_metricValueAnomalyScore.csv`` (UTC). Old CSVs in the
    target folder are removed first so a rerun never mixes results.
    """
    folder = Path(out_dir) / LAYOUT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*_metricValueAnomalyScore.csv"):
        old.unlink()
    ts = pd.DatetimeIndex(timestamps)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    flagged = (scores > 0) & (scores >= sensitivity)
    parts = []
    for m in measures:
        cols = np.flatnonzero((keys_frame["measure"] == m).to_numpy())
        t_i, c_i = np.nonzero(flagged[:, cols])
        part = keys_frame.iloc[cols[c_i]][dims].reset_index(drop=True)
        part["Timestamp"] = ts[t_i].strftime(TS_FORMAT)
        part[f"{m}AnomalyMetricValue"] = values[t_i, cols[c_i]]
        part[f"{m}GroupScore"] = np.round(scores[t_i, cols[c_i]], 2)
        parts.append(part.set_index(["Timestamp"] + dims))
    if not parts:
        return 0
    rows = pd.concat(parts, axis=1).reset_index()
    if rows.empty:
        return 0
    rows.insert(0, "key", rows["Timestamp"] + "_" + rows[dims].astype(str).agg("_".join, axis=1))
    measure_cols = [c for m in measures for c in (f"{m}AnomalyMetricValue", f"{m}GroupScore")]
    rows = rows[["key", "Timestamp"] + dims + measure_cols].sort_values(["Timestamp"] + dims)
    n = 0
    for stamp, group in rows.groupby("Timestamp", sort=True):
        name = pd.Timestamp(stamp).strftime("%Y%m%d_%H%M%S") + "_metricValueAnomalyScore.csv"
        group.to_csv(folder / name, index=False)
        n += 1
    return n
