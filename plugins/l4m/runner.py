"""The jobs: backtest and replay a definition over input files, writing the seed layout.

The CLI calls these, and the Airflow operators will call the same functions with one
interval at a time: reading, detection and writing all go through here.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .engine import Calendar, Detector, IntervalResult, ModelParams
from .intervals import interval_stamp, iso_utc
from .io.atomic import atomic_file, write_text_atomic
from .io.quarantine import write_quarantine_csv
from .io.reader import ReadResult, list_input_files, read_records, series_limit
from .io.results import (
    CONTRIB_DIR,
    GROUP_DIR,
    SCORE_DIR,
    ScoresWriter,
    consolidate_groups,
    write_interval,
)
from .io.storage import write_text
from .spec import DetectorSpec

BACKTEST_TRAIN_SHARE = 0.7   # L4M: learn on the oldest 70 %, detect in the newest 30 %
INTERVAL_DIR = "intervals"   # one marker per processed interval (what sensors wait for)
#: the per-interval files of a batch run, by folder: a rerun into the same folder
#: replaces them (an earlier run's file this run does not write is removed)
RUN_FILES = {SCORE_DIR: "*_metricValueAnomalyScore.csv",
             CONTRIB_DIR: "*_dimensionContributions.csv",
             GROUP_DIR: "*_anomalyGroups.jsonl", INTERVAL_DIR: "*_interval.json"}
QUARANTINE_FILE = "quarantine.csv"


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
    replaced_files: int = 0    # files of an earlier run into the same folder, removed
    status: str = "RUNNING"    # COMPLETE once every file is written

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["out_dir"] = str(self.out_dir)
        return d

    def __str__(self) -> str:
        found = ", ".join(f"{m}: {n}" for m, n in self.anomalies.items()) or "none"
        lines = [
            (f"{self.mode}: {self.metrics} metrics, learned {self.intervals_learned} intervals, "
             f"detected {self.intervals_detected} "
             + (f"from {self.detection_start}" if self.detection_start
                else "(none scored: every metric still in its cold start)")),
            f"anomalous points by measure: {found}; anomaly groups: {self.groups}",
            (f"rows processed: {self.rows_processed}, invalid: {self.rows_invalid}"
             + (f" (see {self.quarantine_file})" if self.quarantine_file else "")),
            f"results: {self.out_dir}"
            + (f" (replacing an earlier run's results: {self.replaced_files} of its files "
               "removed)" if self.replaced_files else ""),
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
                    params=params or ModelParams(), max_series=series_limit(spec))


def read_input(spec: DetectorSpec, path: str) -> ReadResult:
    return read_records(list_input_files(path), spec)


def backtest(spec: DetectorSpec, data: ReadResult, out_dir: Path, *, sensitivity: float = 0,
             scores_out: Path | None = None) -> RunSummary:
    """Learn on the oldest 70 % of the intervals with data, detect in the newest 30 %."""
    earlier = earlier_run_files(Path(out_dir))
    detector = new_detector(spec)
    matrix = detector.matrix(data.records)
    present = matrix.numbers[~np.all(np.isnan(matrix.values), axis=1)]
    if len(present) < 2:
        raise ValueError("backtest needs data in at least two intervals")
    # int(n * 0.7) in floating point, exactly as the shared scorer's --from-pct 0.7 finds
    # the first scored interval (720 intervals: 503.99... -> 503 learned), so the detected
    # and the scored stretches start at the same interval.
    split = int(np.searchsorted(matrix.numbers, present[int(len(present) * BACKTEST_TRAIN_SHARE)]))
    detector.learn(matrix.rows(slice(0, split)))
    results = detector.detect_each(matrix.rows(slice(split, None)),
                                   with_scores=scores_out is not None)
    summary = RunSummary("backtest", Path(out_dir), intervals_learned=split)
    return _finish(spec, detector, data, results, summary, sensitivity, scores_out, earlier)


def learn_history(detector: Detector, data: ReadResult, until: dt.datetime | None = None) -> int:
    """Activation: learn from the intervals of the history (those before ``until``, when
    given: the detector's schedule start); return how many there were."""
    records = data.records
    if until is not None:
        records = records[records["timestamp"] < pd.Timestamp(until)]
    if records.empty:
        return 0
    matrix = detector.matrix(records)
    detector.learn(matrix)
    return len(matrix.numbers)


def replay(spec: DetectorSpec, data: ReadResult, out_dir: Path, *, sensitivity: float = 0,
           scores_out: Path | None = None, history: ReadResult | None = None) -> RunSummary:
    """Continuous detection over every interval of the input, in order: from a cold
    start, or after learning ``history`` as an activation does."""
    earlier = earlier_run_files(Path(out_dir))
    detector = new_detector(spec)
    learned = learn_history(detector, history) if history is not None else 0
    first = None
    if learned:
        first = detector.state.last_interval + 1
    matrix = detector.matrix(data.records, first=first)
    if first is not None and matrix.numbers[0] < first:
        raise ValueError("the replayed input starts before the end of the history")
    results = detector.detect_each(matrix, with_scores=scores_out is not None)
    summary = RunSummary("replay", Path(out_dir), intervals_learned=learned)
    return _finish(spec, detector, data, results, summary, sensitivity, scores_out, earlier)


def write_interval_results(out_dir, spec: DetectorSpec, result: IntervalResult,
                           sensitivity: float) -> dict:
    """One interval's result files and its processed marker; returns the marker.

    ``out_dir`` is a Path or an ObjectStoragePath. The scheduled task and replay both
    call this, so their files are the same bytes.
    """
    return _write_interval_results(out_dir, spec, result, sensitivity)[0]


def _write_interval_results(out_dir, spec: DetectorSpec, result: IntervalResult,
                            sensitivity: float) -> tuple[dict, list]:
    """(marker, paths written) of :func:`write_interval_results`."""
    measures, dims = list(spec.measure_names), list(spec.dimensions)
    written = write_interval(out_dir, result, measures=measures, dimensions=dims,
                             timezone=spec.timezone, sensitivity=sensitivity)
    keep = result.rows["severity"] >= sensitivity
    found = result.rows["measure"][keep].tolist()
    marker = {
        "AnomalyDetectorName": spec.name,
        "IntervalStart": iso_utc(result.epoch),
        "Timestamp": _stamp(result.epoch, spec.timezone),
        "Status": "DETECTED",
        "MetricsScored": result.metrics_scored,
        "Anomalies": {m: found.count(m) for m in measures},
        "AnomalyGroups": sum(1 for g in result.groups
                             if g["AnomalyGroup"]["AnomalyGroupScore"] >= sensitivity),
        "Sensitivity": float(sensitivity),
    }
    path = out_dir / INTERVAL_DIR / f"{interval_stamp(result.epoch)}_interval.json"
    write_text(path, json.dumps(marker, indent=1, sort_keys=True))
    return marker, [*written, path]


def earlier_run_files(out_dir: Path) -> list[Path]:
    """The files of an earlier backtest or replay into ``out_dir`` that a rerun replaces:
    its per-interval files and its ``quarantine.csv``.

    A folder that holds per-interval files without a ``summary.json`` of a backtest or
    replay (the scheduled pipeline's results, or someone else's) is refused with
    ``FileExistsError``: a rerun replaces only its own kind of results.
    """
    earlier = sorted(p for folder, pattern in RUN_FILES.items()
                     for p in (out_dir / folder).glob(pattern))
    batch = _batch_mode(out_dir / "summary.json") in ("backtest", "replay")
    if earlier and not batch:
        raise FileExistsError(
            f"{out_dir}: holds detection results that no l4m backtest or replay wrote there "
            f"(e.g. {earlier[0].relative_to(out_dir)}, and no summary.json of one): choose "
            "another output folder")
    quarantine = out_dir / QUARANTINE_FILE
    return earlier + ([quarantine] if batch and quarantine.exists() else [])


def _batch_mode(summary: Path) -> str | None:
    try:
        return json.loads(summary.read_text(encoding="utf-8")).get("mode")
    except (OSError, ValueError, AttributeError):
        return None


def _finish(spec, detector, data, results: Iterator[IntervalResult], summary: RunSummary,
            sensitivity, scores_out, earlier: list[Path]) -> RunSummary:
    """Write each result as it comes (none is held), then the run's own files.

    ``summary.json`` says ``RUNNING`` until the end: an interrupted run leaves a folder
    that a rerun replaces, like any earlier run's.
    """
    out_dir = summary.out_dir
    write_text_atomic(out_dir / "summary.json", json.dumps(summary.as_dict(), indent=1))
    measures, dims = list(spec.measure_names), list(spec.dimensions)
    counts = dict.fromkeys(measures, 0)
    first_scored = None
    written = {out_dir / QUARANTINE_FILE} if data.quarantine else set()   # rewritten below
    with ExitStack() as stack:
        scores = None if scores_out is None else ScoresWriter(
            stack.enter_context(atomic_file(Path(scores_out))), detector.keys, dims,
            spec.timezone)
        for r in results:
            marker, paths = _write_interval_results(out_dir, spec, r, sensitivity)
            written.update(paths)
            for m, n in marker["Anomalies"].items():
                counts[m] += n
            if first_scored is None and r.metrics_scored:
                first_scored = r.epoch
            summary.intervals_detected += 1
            if scores is not None:
                scores.add(r)
        if scores is not None:
            scores.close()
    stale = [p for p in earlier if p not in written]
    for path in stale:
        path.unlink()
    summary.replaced_files = len(stale)
    groups_file = consolidate_groups(out_dir, rebuild=True)   # older group files rewritten too
    summary.detection_start = _stamp(first_scored, spec.timezone) \
        if first_scored is not None else None
    summary.metrics = len(detector.keys)
    summary.anomalies = counts
    summary.groups = sum(1 for _ in groups_file.open())
    summary.rows_processed = data.quality.rows_processed
    summary.rows_invalid = data.quality.rows_invalid
    if data.quarantine:
        path = out_dir / QUARANTINE_FILE
        write_quarantine_csv(data.quarantine, path)
        summary.quarantine_file = str(path)
    quality = {"DataQualityMetricList": data.quality.to_l4m()}
    write_text_atomic(out_dir / "dataQuality.json", json.dumps(quality, indent=1))
    summary.status = "COMPLETE"
    write_text_atomic(out_dir / "summary.json", json.dumps(summary.as_dict(), indent=1))
    return summary


def _stamp(epoch: int, timezone: str) -> str:
    return pd.Timestamp(epoch, unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%d %H:%M:%S")
