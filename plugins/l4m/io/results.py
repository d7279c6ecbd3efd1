"""Write detection results in the seed's S3 layout, one file per interval and table.

Under the output root:

* ``anomalyResults/metricValueAnomalyScore/<yyyyMMdd>_<HHmmss>_metricValueAnomalyScore.csv``
  ``key,Timestamp,<dimensions>,<m>AnomalyMetricValue,<m>GroupScore…`` (SEED-SYSTEM §4)
* ``anomalyResults/dimensionContributions/<stamp>_dimensionContributions.csv``
  ``Timestamp,metricName,dimensionName,dimensionValue,valueContribution``
* ``anomalyGroups/<stamp>_anomalyGroups.jsonl``: groups touched by the interval, each a
  GetAnomalyGroup response plus ``InterMetricImpactList`` and its time series in the
  ListAnomalyGroupTimeSeries shape.

File names use the interval start in UTC; ``Timestamp`` columns use the detector's
timezone, formatted ``yyyy-MM-dd HH:mm:ss`` so they join the live data. ``<m>GroupScore``
is the severity of that metric within its group (the group's own score is in the
group file). Dimension values are written spreadsheet-safe (``io.cells``: a value a
spreadsheet would run as a formula gets a leading ``'``). Files are written whole and
atomically, and a rerun of an interval rewrites the same bytes. Only
``anomalyGroups.jsonl`` is derived from earlier files (see :mod:`l4m.io.group_index`).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from ..engine.detector import IntervalResult
from ..engine.matrix import MEASURE
from ..intervals import interval_stamp
from .cells import safe_cell
from .storage import names, write_bytes

SCORE_DIR = "anomalyResults/metricValueAnomalyScore"
CONTRIB_DIR = "anomalyResults/dimensionContributions"
GROUP_DIR = "anomalyGroups"
TS_FORMAT = "%Y-%m-%d %H:%M:%S"
SCORE_NUMBERS = ["value", "expected", "lower", "upper", "severity"]
CONTRIB_HEADER = ["Timestamp", "metricName", "dimensionName", "dimensionValue", "valueContribution"]


def local_time(epoch: int, timezone: str) -> pd.Timestamp:
    return pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert(timezone)


def score_header(measures: list[str], dimensions: list[str]) -> list[str]:
    cols = ["key", "Timestamp", *dimensions]
    for m in measures:
        cols += [f"{m}AnomalyMetricValue", f"{m}GroupScore"]
    return cols


def score_rows(result: IntervalResult, measures: list[str], dimensions: list[str],
               timezone: str, sensitivity: float) -> list[list]:
    """metricValueAnomalyScore rows of one interval: one per anomalous dimension combination."""
    r = result.rows
    keep = r["severity"] >= sensitivity
    if not keep.any():
        return []
    stamp = local_time(result.epoch, timezone).strftime(TS_FORMAT)
    position = {m: 3 + len(dimensions) + 2 * i for i, m in enumerate(measures)}
    rows: dict[tuple, list] = {}
    for combo, measure, value, sev, k in zip(r["combo"], r["measure"].tolist(),
                                            r["value"].tolist(), r["severity"].tolist(), keep):
        if not k:
            continue
        row = rows.get(combo)
        if row is None:
            row = rows[combo] = (["_".join((stamp, *combo)), stamp, *map(safe_cell, combo)]
                                 + [""] * 2 * len(measures))
        row[position[measure] - 1: position[measure] + 1] = [_number(value), _number(sev)]
    return [rows[c] for c in sorted(rows)]


def contribution_rows(result: IntervalResult, timezone: str, sensitivity: float) -> list[list]:
    """dimensionContributions rows of one interval (measures with an anomaly ≥ sensitivity)."""
    r = result.rows
    keep = set(r["measure"][r["severity"] >= sensitivity].tolist())
    stamp = local_time(result.epoch, timezone).strftime(TS_FORMAT)
    return [[stamp, m, d, safe_cell(v), _number(c)]
            for m, d, v, c in result.contributions if m in keep]


def write_interval(root: Path, result: IntervalResult, *, measures: list[str],
                   dimensions: list[str], timezone: str, sensitivity: float = 0.0) -> list[Path]:
    """Write the interval's files (none when it has no anomaly ≥ sensitivity).

    ``root`` is a :class:`~pathlib.Path` or an ``ObjectStoragePath`` (see ``io.storage``).
    """
    rows = score_rows(result, measures, dimensions, timezone, sensitivity)
    if not rows:
        return []
    stamp = interval_stamp(result.epoch)
    written = [
        _write_csv(root / SCORE_DIR / f"{stamp}_metricValueAnomalyScore.csv",
                   score_header(measures, dimensions), rows),
        _write_csv(root / CONTRIB_DIR / f"{stamp}_dimensionContributions.csv", CONTRIB_HEADER,
                   contribution_rows(result, timezone, sensitivity)),
    ]
    groups = [g for g in result.groups if g["AnomalyGroup"]["AnomalyGroupScore"] >= sensitivity]
    path = root / GROUP_DIR / f"{stamp}_anomalyGroups.jsonl"
    write_bytes(path, "".join(json.dumps(g, sort_keys=True) + "\n" for g in groups).encode())
    written.append(path)
    return written


def consolidate_groups(root: Path, *, rebuild: bool = False) -> Path:
    """Write ``anomalyGroups.jsonl``: the last state of every group, ordered by start time.

    Only the group files added since the previous call are read and merged into the
    previous ``anomalyGroups.jsonl`` (the same bytes as reading them all; see
    :mod:`l4m.io.group_index`). ``rebuild`` reads every file: for writers that rewrite
    older group files (replay and backtest into an existing folder).
    """
    from .group_index import consolidate

    files = names(root / GROUP_DIR, "*_anomalyGroups.jsonl")
    return consolidate(root / GROUP_DIR, files, root / "anomalyGroups.jsonl", rebuild=rebuild)


class ScoresWriter:
    """The ``--scores-out`` CSV, written as the intervals come: every scored point of
    results detected ``with_scores``, in interval order:
    timestamp,metric,<dimensions>,value,expected,lower,upper,severity.

    Results are buffered until about :attr:`chunk_points` points, then written as one
    table built from their arrays; the key columns are made spreadsheet-safe once per
    metric, not once per point. A run without any scored point writes the header.
    """

    chunk_points = 1_000_000

    def __init__(self, out: BinaryIO, keys: pd.DataFrame, dimensions: list[str],
                 timezone: str):
        self.out, self.dimensions, self.timezone = out, dimensions, timezone
        self.keys = {"metric": keys[MEASURE].astype(str).to_numpy(dtype=object)}
        for dim in dimensions:
            self.keys[dim] = np.array([safe_cell(v) for v in keys[dim].astype(str)],
                                      dtype=object)
        self.pending: list[IntervalResult] = []
        self.points = 0
        self.header = True

    def add(self, result: IntervalResult) -> None:
        if result.scores is not None and len(result.scores["series"]):
            self.pending.append(result)
            self.points += len(result.scores["series"])
            if self.points >= self.chunk_points:
                self._write()

    def close(self) -> None:
        """Write what is buffered (the header alone when nothing was scored)."""
        if self.pending or self.header:
            self._write()

    def _write(self) -> None:
        parts, self.pending, self.points = self.pending, [], 0
        series = np.concatenate([r.scores["series"] for r in parts]) if parts \
            else np.zeros(0, np.int64)
        stamps = [local_time(r.epoch, self.timezone).strftime(TS_FORMAT) for r in parts]
        table = {"timestamp": np.repeat(np.array(stamps, dtype=object),
                                        [len(r.scores["series"]) for r in parts])}
        for column in ("metric", *self.dimensions):
            table[column] = self.keys[column][series]
        for column in SCORE_NUMBERS:
            table[column] = np.concatenate([r.scores[column] for r in parts]) if parts \
                else np.zeros(0)
        text = pd.DataFrame(table).to_csv(index=False, header=self.header,
                                          float_format="%.10g")
        self.out.write(text.encode("utf-8"))
        self.header = False


def _number(value: float) -> str:
    return f"{value:.10g}"


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_bytes(path, buf.getvalue().encode("utf-8"))
    return path
