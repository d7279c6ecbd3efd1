"""The jobs: backtest and replay a definition over input files, writing the seed layout.

The CLI calls these, and the Airflow operators will call the same functions with one
interval at a time: reading, detection and writing all go through here.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .engine import Calendar, Detector, IntervalResult, ModelParams
from .io.atomic import write_text_atomic
from .io.quarantine import write_quarantine_csv
from .io.reader import ReadResult, list_input_files, read_records
from .io.results import consolidate_groups, scores_frame, write_interval
from .spec import DetectorSpec

BACKTEST_TRAIN_SHARE = 0.7   # L4M: learn on the oldest 70 %, detect in the newest 30 %


@dataclass
class RunSummary:
    """What a backtest or replay did, for people (``str``) and tools (``as_dict``)."""

    mode: str
    out_dir: Path
    intervals_learned: int = 0
    intervals_detected: int = 0
    detection_start: str | None = None
    metrics: int = 0
    anomalies: dict = field(default_factory=dict)
    groups: int = 0
    rows_processed: int = 0
    rows_invalid: int = 0
    quarantine_file: str | None = None

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["out_dir"] = str(self.out_dir)
        return d

    def __str__(self) -> str:
        found = ", ".join(f"{m}: {n}" for m, n in self.anomalies.items()) or "none"
        lines = [
            (f"{self.mode}: {self.metrics} metrics, learned {self.intervals_learned} intervals, "
             f"detected {self.intervals_detected} from {self.detection_start}"),
            f"anomalous points by measure: {found}; anomaly groups: {self.groups}",
            (f"rows processed: {self.rows_processed}, invalid: {self.rows_invalid}"
             + (f" (see {self.quarantine_file})" if self.quarantine_file else "")),
            f"results: {self.out_dir}",
        ]
        return "\n".join(lines)


def standard_utc_offset(timezone: str) -> int:
    """The zone's standard (non-DST) UTC offset in seconds: seasonal slots stay fixed."""
    zone = ZoneInfo(timezone)
    probe = dt.datetime(2021, 1, 15, 12, tzinfo=zone)
    return int((probe.utcoffset() - (probe.dst() or dt.timedelta(0))).total_seconds())


def new_detector(spec: DetectorSpec, params: ModelParams | None = None) -> Detector:
    calendar = Calendar(spec.interval_seconds, standard_utc_offset(spec.timezone))
    return Detector(name=spec.name, measures=[(m.name, m.aggregation) for m in spec.metrics],
                    dimensions=list(spec.dimensions), calendar=calendar,
                    params=params or ModelParams())


def read_input(spec: DetectorSpec, path: str) -> ReadResult:
    return read_records(list_input_files(path), spec)


def backtest(spec: DetectorSpec, data: ReadResult, out_dir: Path, *, sensitivity: float = 0,
             scores_out: Path | None = None) -> RunSummary:
    """Learn on the oldest 70 % of the intervals with data, detect in the newest 30 %."""
    detector = new_detector(spec)
    matrix = detector.matrix(data.records)
    present = matrix.numbers[~np.all(np.isnan(matrix.values), axis=1)]
    if len(present) < 2:
        raise ValueError("backtest needs data in at least two intervals")
    split = int(np.searchsorted(matrix.numbers, present[int(len(present) * BACKTEST_TRAIN_SHARE)]))
    detector.learn(matrix.rows(slice(0, split)))
    results = detector.detect(matrix.rows(slice(split, None)), with_scores=scores_out is not None)
    summary = RunSummary("backtest", Path(out_dir), intervals_learned=split)
    return _finish(spec, detector, data, results, summary, sensitivity, scores_out)


def replay(spec: DetectorSpec, data: ReadResult, out_dir: Path, *, sensitivity: float = 0,
           scores_out: Path | None = None) -> RunSummary:
    """Continuous detection from a cold start over every interval of the input, in order."""
    detector = new_detector(spec)
    matrix = detector.matrix(data.records)
    results = detector.detect(matrix, with_scores=scores_out is not None)
    summary = RunSummary("replay", Path(out_dir))
    return _finish(spec, detector, data, results, summary, sensitivity, scores_out)


def _finish(spec, detector, data, results: list[IntervalResult], summary: RunSummary,
            sensitivity, scores_out) -> RunSummary:
    out_dir = summary.out_dir
    measures, dims = list(spec.measure_names), list(spec.dimensions)
    counts = dict.fromkeys(measures, 0)
    scored = [r for r in results if r.metrics_scored]
    for r in results:
        write_interval(out_dir, r, measures=measures, dimensions=dims, timezone=spec.timezone,
                       sensitivity=sensitivity)
        for m in r.rows["measure"][r.rows["severity"] >= sensitivity].tolist():
            counts[m] += 1
    groups_file = consolidate_groups(out_dir)
    if scores_out is not None:
        frames = [scores_frame(r, dims, spec.timezone) for r in results if r.metrics_scored]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        write_text_atomic(Path(scores_out), table.to_csv(index=False, float_format="%.10g"))
    summary.intervals_detected = len(results)
    summary.detection_start = _stamp(scored[0].epoch, spec.timezone) if scored else None
    summary.metrics = len(detector.keys)
    summary.anomalies = counts
    summary.groups = sum(1 for _ in groups_file.open())
    summary.rows_processed = data.quality.rows_processed
    summary.rows_invalid = data.quality.rows_invalid
    if data.quarantine:
        path = out_dir / "quarantine.csv"
        write_quarantine_csv(data.quarantine, path)
        summary.quarantine_file = str(path)
    quality = {"DataQualityMetricList": data.quality.to_l4m()}
    write_text_atomic(out_dir / "dataQuality.json", json.dumps(quality, indent=1))
    write_text_atomic(out_dir / "summary.json", json.dumps(summary.as_dict(), indent=1))
    return summary


def _stamp(epoch: int, timezone: str) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%d %H:%M:%S")
