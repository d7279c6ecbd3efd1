"""The detector hook: Lookout for Metrics' detector verbs over a storage root.

L4M kept a detector's definition, state and results inside the service. Here they
live under two roots from the definition (``Storage`` section, see
:mod:`l4m.locations`), ``file://`` or ``s3://``, reached through Airflow's
``ObjectStoragePath`` (the amazon provider's s3fs filesystem for ``s3://``)::

    <state>/definition.json          the definition as created or last updated
    <state>/detector.json            DescribeAnomalyDetector: status, failure reason, times
    <state>/versions/<stamp>/        model state after the interval starting at <stamp> (UTC)
    <state>/feedback/<group>_<series>.json
    <state>/published/<target>.json  fingerprint of what was last published (AWS publishing)
    <results>/…                      the seed layout (see docs/outputs.md), plus
    <results>/intervals/<stamp>_interval.json     one marker per processed interval
    <results>/dataQuality/<stamp>_dataQuality.json   with the fingerprint of the input read
    <results>/dataChanges/<stamp>_dataChanges.json   input that differs on a rerun

State is versioned per interval (the newest ``keep_versions`` are kept): interval N
loads the newest version before N, writes N's results, then version N last. Version N is the
commit point: a run killed before it leaves the previous versions intact and its retry
writes the same bytes; once it exists, N is detected and a rerun returns its marker
(reporting input that changed since, never detecting N again).

Every verb that writes state holds the detector's lock (:mod:`l4m.io.lock`), so two
runs of one detector never write from the same base.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from l4m.alerts import detector_arn
from l4m.compat import BaseHook, ObjectStoragePath
from l4m.intervals import interval_paths, interval_stamp, iso_utc, utc_epoch
from l4m.io.lock import DetectorLock
from l4m.io.storage import open_path, read_definition
from l4m.locations import Locations, resolve
from l4m.spec import DetectorSpec, parse_spec_json

STATUS_FILE = "detector.json"
DEFINITION_FILE = "definition.json"
VERSIONS = "versions"
FEEDBACK = "feedback"
PUBLISHED = "published"
DATA_QUALITY = "dataQuality"
DATA_CHANGES = "dataChanges"
ACTIVE_STATUSES = ("ACTIVE", "LEARNING")
# State versions kept after each save (the newest N; None keeps all). Going on needs
# only the newest; a version is ~15.6 KB per metric at PT5M (50,000 metrics: 750 MiB).
KEEP_VERSIONS = 12
# The definition fields the model state depends on: changing one needs a new detector.
STRUCTURE = ("interval_seconds", "measure_names", "dimensions", "timezone")


class DetectorError(ValueError):
    """A verb that cannot be carried out in the detector's current state."""


class IntervalNotDetectable(DetectorError):
    """An interval that this detector will never detect, however often it is retried."""


def _now() -> str:
    return iso_utc(dt.datetime.now(dt.timezone.utc))


def _exclusive(verb):
    """Run a state-writing verb while holding the detector's lock."""
    @functools.wraps(verb)
    def locked(self, *args, **kwargs):
        with self.lock:
            return verb(self, *args, **kwargs)
    return locked


class DetectorHook(BaseHook):
    """Create, activate, back-test and run an embedded L4M detector.

    :param spec: the detector definition (``l4m.spec.DetectorSpec``); see
        :meth:`from_file`.
    :param aws_conn_id: Airflow connection for ``s3://`` roots (unused for ``file://``).
    :param locations: override the roots resolved from the definition.
    :param lock_owner: who this run is, shown to a run waiting for the detector's lock.
    :param lock_wait_seconds: how long to wait for another run's lock before failing.
    :param keep_versions: model state versions kept after each save (the newest ones);
        ``None`` keeps every version.
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = "aws"
    hook_name = "Lookout for Metrics (embedded) detector"

    def __init__(self, spec: DetectorSpec, *, aws_conn_id: str | None = default_conn_name,
                 locations: Locations | None = None, lock_owner: str | None = None,
                 lock_wait_seconds: float = 600, keep_versions: int | None = KEEP_VERSIONS,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.keep_versions = keep_versions
        self.aws_conn_id = aws_conn_id
        self.locations = locations or resolve(spec)
        self.lock = DetectorLock(self.locations.state, owner=lock_owner, conn_id=aws_conn_id,
                                 wait_seconds=lock_wait_seconds)

    @classmethod
    def from_file(cls, definition: str, **kwargs) -> DetectorHook:
        """A hook for the definition file at ``definition`` (a path or a URL)."""
        return cls(read_definition(definition, kwargs.get("aws_conn_id")), **kwargs)

    # ------------------------------------------------------------------ storage

    def path(self, url: str) -> ObjectStoragePath:
        return open_path(url, self.aws_conn_id)

    @property
    def state_root(self) -> ObjectStoragePath:
        return self.path(self.locations.state)

    @property
    def results_root(self) -> ObjectStoragePath:
        return self.path(self.locations.results)

    def _write_json(self, path: ObjectStoragePath, data: dict) -> None:
        from l4m.io.storage import write_text

        write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")

    # ------------------------------------------------------------------ lifecycle

    @_exclusive
    def create_detector(self) -> dict:
        """CreateAnomalyDetector + CreateMetricSet + CreateAlert from the definition.

        Idempotent: creating again with the same definition changes nothing; a changed
        definition is an update (:meth:`update_detector`).
        """
        if (self.state_root / STATUS_FILE).exists():
            return self.update_detector()
        self._write_json(self.state_root / DEFINITION_FILE, self.spec.document)
        now = _now()
        self._write_json(self.state_root / STATUS_FILE, {
            "AnomalyDetectorArn": detector_arn(self.spec),
            "AnomalyDetectorName": self.spec.name,
            "AnomalyDetectorDescription": self.spec.description,
            "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": self.spec.frequency},
            "CreationTime": now, "LastModificationTime": now, "Status": "INACTIVE"})
        self.log.info("Created detector %s at %s", self.spec.name, self.locations.state)
        return {"AnomalyDetectorArn": detector_arn(self.spec)}

    @_exclusive
    def update_detector(self) -> dict:
        """UpdateAnomalyDetector/UpdateMetricSet: store the new definition.

        Changing the interval, measures, dimensions or timezone of a detector that has
        learned is refused (its model would not fit): create a detector with a new name.
        """
        old_text = (self.state_root / DEFINITION_FILE).read_text(encoding="utf-8")
        old = parse_spec_json(old_text, source=self.locations.state)
        if old.document != self.spec.document:
            changed = [f for f in STRUCTURE if getattr(old, f) != getattr(self.spec, f)]
            if changed and self._versions():
                raise DetectorError(
                    f"detector {self.spec.name}: {', '.join(changed)} changed after it learned; "
                    "create a detector with a new name instead")
            self._write_json(self.state_root / DEFINITION_FILE, self.spec.document)
            self._set_status(self.describe_detector()["Status"])
            self.log.info("Updated the definition of detector %s", self.spec.name)
        return {"AnomalyDetectorArn": detector_arn(self.spec)}

    def describe_detector(self) -> dict:
        """DescribeAnomalyDetector (``DetectorError`` if it was never created)."""
        path = self.state_root / STATUS_FILE
        if not path.exists():
            raise DetectorError(f"detector {self.spec.name} does not exist at "
                                f"{self.locations.state}")
        return json.loads(path.read_text(encoding="utf-8"))

    def _set_status(self, status: str, reason: str | None = None) -> dict:
        record = self.describe_detector()
        record.update(Status=status,
                      LastModificationTime=_now())
        record.pop("FailureReason", None)
        if reason:
            record["FailureReason"] = reason[:1000]
        self._write_json(self.state_root / STATUS_FILE, record)
        return record

    @contextmanager
    def _phase(self, running: str):
        """Set ``running`` for the duration; FAILED with the reason if the work raises."""
        self._set_status(running)
        try:
            yield
        except Exception as exc:
            self._set_status("FAILED", f"{type(exc).__name__}: {exc}")
            raise

    @_exclusive
    def activate_detector(self) -> dict:
        """ActivateAnomalyDetector: learn from HistoricalDataPathList, or start cold.

        Only history before ``Schedule.StartDate`` is learned (all of it without one), so
        the history may overlap the intervals the schedule will detect.

        ACTIVATING → LEARNING → ACTIVE with history; without history the detector is
        LEARNING until its metrics have passed the cold start, then ACTIVE.
        """
        from l4m import runner
        from l4m.io.reader import read_records

        status = self.describe_detector()["Status"]
        if status in ACTIVE_STATUSES:
            return self.describe_detector()
        with self._phase("ACTIVATING"):
            detector = runner.new_detector(self.spec)
            learned = 0
            if self.spec.historical_paths:
                self._set_status("LEARNING")
                with self._local_files(self.spec.historical_paths) as (files, names):
                    learned = runner.learn_history(
                        detector, read_records(files, self.spec, names=names),
                        until=self.spec.pipeline.start_date)
            if learned:
                self._save_version(detector)
        return self._set_status("ACTIVE" if learned else "LEARNING")

    @_exclusive
    def back_test_detector(self) -> dict:
        """BackTestAnomalyDetector: learn on the oldest 70 % of the history, detect in the
        newest 30 %; results in the seed layout under ``<results>/backtest/``."""
        from l4m import runner
        from l4m.io.reader import read_records

        if not self.spec.historical_paths:
            raise DetectorError("a backtest needs MetricSource.S3SourceConfig."
                                "HistoricalDataPathList in the definition")
        with self._phase("BACK_TEST_ACTIVATING"):
            with self._local_files(self.spec.historical_paths) as (files, names):
                data = read_records(files, self.spec, names=names)
            self._set_status("BACK_TEST_ACTIVE")
            with tempfile.TemporaryDirectory(prefix="l4m-backtest-") as tmp:
                summary = runner.backtest(self.spec, data, Path(tmp)).as_dict()
                self._upload_tree(tmp, self.results_root / "backtest")
        self._set_status("BACK_TEST_COMPLETE")
        summary["out_dir"] = f"{self.locations.results}/backtest"
        return summary

    # ------------------------------------------------------------------ detection

    @_exclusive
    def detect_interval(self, interval_start: Any, *, sensitivity: float = 0.0) -> dict:
        """Detect anomalies in one interval (the scheduled run's job); return its marker.

        Reads the files at the definition's templated paths for the interval (rows
        outside it are quarantined), scores it with the newest state before it, writes
        the interval's results and saves the state after it as a new version. A detected
        interval is never detected again: its marker is returned, and input that differs
        from the input it was detected from is reported (``dataChanges``).
        """
        from l4m import runner
        from l4m.io.results import consolidate_groups

        status = self.describe_detector()["Status"]
        if status not in ACTIVE_STATUSES:
            raise DetectorError(f"detector {self.spec.name} is {status}: activate it first")
        detector = runner.new_detector(self.spec)
        epoch = utc_epoch(interval_start)
        number = int(detector.calendar.interval_number(epoch))
        epoch = int(detector.calendar.epoch_seconds(number))
        if self.spec.pipeline.before_start(dt.datetime.fromtimestamp(epoch, dt.timezone.utc)):
            raise IntervalNotDetectable(
                f"interval {interval_stamp(epoch)} starts before Schedule.StartDate "
                f"({iso_utc(self.spec.pipeline.start_date)}): intervals before it are learned "
                "from the history at activation, detection starts there")
        versions = self._versions()
        done = self._detected(epoch, versions)
        if done is not None:
            self.log.info("Interval %s was already detected: not detecting it again",
                          done["IntervalStart"])
            self._report_data_changes(epoch)
            return self._finish(status, done)
        detector = self._load_before(epoch, detector, versions)
        files, read, data = self._read_interval(epoch)
        [result] = detector.detect(detector.matrix(data.records, first=number, last=number))
        marker = runner.write_interval_results(self.results_root, self.spec, result, sensitivity)
        consolidate_groups(self.results_root)
        self._write_json(self._quality_path(epoch),
                         {"IntervalStart": marker["IntervalStart"], "Files": files,
                          "InputFiles": read, "DataQualityMetricList": data.quality.to_l4m()})
        if data.quarantine:
            self._write_quarantine(data.quarantine, epoch)
        self.lock.renew()          # still ours: no other run wrote state meanwhile
        self._save_version(detector)
        return self._finish(status, marker)

    def _finish(self, status: str, marker: dict) -> dict:
        """LEARNING → ACTIVE once an interval scored metrics; return ``marker``."""
        if status == "LEARNING" and marker["MetricsScored"]:
            self._set_status("ACTIVE")
        return marker

    def _detected(self, epoch: int, versions: list[str]) -> dict | None:
        """The marker of ``epoch`` if it is committed (its version exists, or a later one
        does and the marker too: its own version was pruned), else None.

        Raises if a later interval is already committed (detecting this one now would
        rebuild the model from an older base than the state that followed it), or, with
        ``Schedule.Catchup``, if the previous interval is not committed yet (this one
        would skip it).
        """
        key = interval_stamp(epoch)
        if key in versions:
            marker = self.interval_marker(epoch)
            if marker is None:
                raise IntervalNotDetectable(
                    f"interval {key} was learned in the history, not detected")
            return marker
        if versions and versions[-1] > key:
            marker = self.interval_marker(epoch)
            if marker is not None:
                return marker
            raise IntervalNotDetectable(
                f"detector {self.spec.name}: its state already covers {versions[-1]}, after "
                f"interval {key}; an older interval cannot be inserted into the model "
                "afterwards (intervals run oldest first: depends_on_past, max_active_runs=1)")
        previous = interval_stamp(epoch - self.spec.interval_seconds)
        if self.spec.pipeline.catchup and previous not in versions and (
                self._scheduled(epoch - self.spec.interval_seconds)
                or (versions and self._marker_path(versions[-1]).exists())):
            raise DetectorError(
                f"detector {self.spec.name}: interval {previous} is not detected yet; with "
                "Schedule.Catchup every interval is detected in order, so retry once it is")
        return None

    def _scheduled(self, epoch: int) -> bool:
        """Whether the schedule detects the interval at ``epoch`` (from Schedule.StartDate)."""
        start = self.spec.pipeline.start_date
        return start is not None and epoch >= utc_epoch(start)

    def _interval_files(self, epoch: int) -> dict:
        """The data files of each of the interval's paths (the data sensor's rule)."""
        from l4m.io.inputs import data_files

        return {url: data_files(self.path(url), url) for url in interval_paths(self.spec, epoch)}

    def _read_interval(self, epoch: int):
        """(URLs with data, fingerprint of the files read, ReadResult) of one interval;
        rows outside it are quarantined. A path without a data file is missing (a gap)."""
        import pandas as pd

        from l4m.io.inputs import local_inputs, shown_names
        from l4m.io.reader import read_records

        found = self._interval_files(epoch)
        start = pd.Timestamp(epoch, unit="s", tz="UTC")
        window = (start, start + pd.Timedelta(seconds=self.spec.interval_seconds))
        inputs = [f for path_files in found.values() for f in path_files]
        with local_inputs(inputs) as (paths, read):
            data = read_records(paths, self.spec, window=window, names=shown_names(inputs))
        return [url for url, files in found.items() if files], read, data

    def _report_data_changes(self, epoch: int) -> None:
        """Compare a detected interval's input with the files there now; write a
        ``dataChanges`` record and warn when they differ (the interval is not detected
        again: the model has moved past it)."""
        from l4m.io.inputs import data_changes, fingerprint

        path = self._quality_path(epoch)
        detected = json.loads(path.read_text()).get("InputFiles") if path.exists() else None
        if detected is None:       # detected before fingerprints were recorded
            self.log.info("No input fingerprint for interval %s: not compared", iso_utc(epoch))
            return
        current = fingerprint([f for files in self._interval_files(epoch).values() for f in files])
        diff = data_changes(detected, current)
        if diff is None:
            self.log.info("The input of interval %s is as detected", iso_utc(epoch))
            return
        report = self.results_root / DATA_CHANGES / f"{interval_stamp(epoch)}_dataChanges.json"
        self._write_json(report, {
            "AnomalyDetectorName": self.spec.name, "IntervalStart": iso_utc(epoch),
            "CheckedAt": _now(), **diff, "DetectedInputFiles": detected,
            "Message": "not detected again: the interval keeps the results of the input "
                       "it was detected from (the model has moved past it)"})
        self.log.warning(
            "Interval %s was detected from other input than is there now (%d added, %d "
            "removed, %d changed): it is not detected again, its results stay; see %s",
            iso_utc(epoch), len(diff["Added"]), len(diff["Removed"]), len(diff["Changed"]),
            report)

    def _write_quarantine(self, rows, epoch: int) -> None:
        from l4m.io.quarantine import write_quarantine_csv

        with tempfile.TemporaryDirectory(prefix="l4m-quarantine-") as tmp:
            local = Path(tmp) / "quarantine.csv"
            write_quarantine_csv(rows, local)
            self._upload_file(local, self.results_root / "quarantine"
                              / f"{interval_stamp(epoch)}_quarantine.csv")

    # ------------------------------------------------------------------ state versions

    def _versions(self) -> list[str]:
        from l4m.io.storage import names

        root = self.state_root / VERSIONS
        return [n for n in names(root) if (root / n / "detector.json").exists()]

    def _load_before(self, epoch: int, fresh, versions: list[str]):
        """The newest complete state version before ``epoch`` (``fresh`` when none)."""
        from l4m.io.state_store import load_detector

        key = interval_stamp(epoch)
        older = [v for v in versions if v < key]
        if not older:
            return self._apply_feedback(fresh)
        loaded = load_detector(self.state_root / VERSIONS / older[-1])
        loaded.max_series = fresh.max_series      # the definition's limit, not the saved one
        return self._apply_feedback(loaded)

    def _save_version(self, detector) -> None:
        from l4m.io.state_store import prune_versions, save_detector

        last = int(detector.calendar.epoch_seconds(detector.state.last_interval))
        save_detector(detector, self.state_root / VERSIONS / interval_stamp(last))
        if self.keep_versions:      # after the commit point: a kill here loses nothing
            prune_versions(self.state_root / VERSIONS, self.keep_versions)

    # ------------------------------------------------------------------ anomaly groups

    def _groups(self) -> list[dict]:
        path = self.results_root / "anomalyGroups.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def list_anomaly_groups(self, *, sensitivity: float = 0.0) -> list[dict]:
        """ListAnomalyGroupSummaries: groups with a score ≥ ``sensitivity``, oldest first."""
        return [{k: g["AnomalyGroup"][k] for k in ("StartTime", "EndTime", "AnomalyGroupId",
                                                   "AnomalyGroupScore", "PrimaryMetricName")}
                for g in self._groups() if g["AnomalyGroup"]["AnomalyGroupScore"] >= sensitivity]

    def get_anomaly_group(self, group_id: str) -> dict:
        """GetAnomalyGroup (with InterMetricImpactList)."""
        group = self._group(group_id)
        return {"AnomalyGroup": group["AnomalyGroup"],
                "InterMetricImpactList": group["InterMetricImpactList"]}

    def list_anomaly_group_time_series(self, group_id: str) -> dict:
        """ListAnomalyGroupTimeSeries."""
        return self._group(group_id)["AnomalyGroupTimeSeries"]

    def _group(self, group_id: str) -> dict:
        for group in self._groups():
            if group["AnomalyGroup"]["AnomalyGroupId"] == group_id:
                return group
        raise DetectorError(f"no anomaly group {group_id!r} for detector {self.spec.name}")

    # ------------------------------------------------------------------ feedback

    @_exclusive
    def put_feedback(self, group_id: str, time_series_id: str, is_anomaly: bool) -> None:
        """PutFeedback: ``IsAnomaly`` for one series of a group; used from the next interval."""
        series = self.list_anomaly_group_time_series(group_id)
        ids = [ts["TimeSeriesId"] for ts in series["TimeSeriesList"]]
        if time_series_id not in ids:
            raise DetectorError(f"group {group_id} has no time series {time_series_id!r}")
        group = self.get_anomaly_group(group_id)["AnomalyGroup"]
        self._write_json(self.state_root / FEEDBACK / f"{group_id}_{time_series_id}.json", {
            "AnomalyGroupId": group_id, "TimeSeriesId": time_series_id,
            "IsAnomaly": bool(is_anomaly), "MetricName": series["MetricName"],
            "AnomalyGroupScore": group["AnomalyGroupScore"],
            "DimensionList": series["TimeSeriesList"][ids.index(time_series_id)]["DimensionList"],
            "Time": _now()})

    def get_feedback(self, group_id: str) -> list[dict]:
        """GetFeedback: the verdicts given for one group's series."""
        return [{"TimeSeriesId": f["TimeSeriesId"], "IsAnomaly": f["IsAnomaly"]}
                for f in self._feedback() if f["AnomalyGroupId"] == group_id]

    def _feedback(self) -> list[dict]:
        from l4m.io.storage import names

        root = self.state_root / FEEDBACK
        records = [json.loads((root / n).read_text()) for n in names(root, "*.json")]
        return sorted(records, key=lambda f: (f["Time"], f["AnomalyGroupId"], f["TimeSeriesId"]))

    def _apply_feedback(self, detector):
        """Apply every verdict (in the order given) to the detector's series.

        The deviation's size is taken from the group's score (severity 50 ≈ z 6), so a
        "not an anomaly" damps later deviations of that size or smaller on that series.
        """
        from l4m.engine.severity import z_of_severity

        records = self._feedback()
        if not records:
            return detector
        keys = detector.keys.astype(str)
        for f in records:
            match = keys["measure"] == f["MetricName"]
            for d in f["DimensionList"]:
                match &= keys[d["DimensionName"]] == d["DimensionValue"]
            for series in match[match].index:
                z = z_of_severity(f["AnomalyGroupScore"], detector.params)
                detector.feedback(int(series), z, f["IsAnomaly"])
        return detector

    # ------------------------------------------------------------------ data quality

    def get_data_quality_metrics(self, interval_start: Any) -> dict:
        """GetDataQualityMetrics for one detected interval."""
        path = self._quality_path(utc_epoch(interval_start))
        if not path.exists():
            raise DetectorError(f"no data quality metrics for interval {interval_start}")
        return json.loads(path.read_text())

    def _quality_path(self, epoch: int) -> ObjectStoragePath:
        return self.results_root / DATA_QUALITY / f"{interval_stamp(epoch)}_dataQuality.json"

    def interval_marker(self, interval_start: Any) -> dict | None:
        """The processed marker of one interval (see ``detect_interval``), None if absent."""
        path = self._marker_path(interval_stamp(utc_epoch(interval_start)))
        return json.loads(path.read_text()) if path.exists() else None

    def _marker_path(self, stamp: str) -> ObjectStoragePath:
        from l4m.runner import INTERVAL_DIR

        return self.results_root / INTERVAL_DIR / f"{stamp}_interval.json"

    # ------------------------------------------------------------------ publishing

    def published_fingerprint(self, target: str) -> str | None:
        """The fingerprint recorded when ``target`` was last published, if any."""
        path = self.state_root / PUBLISHED / f"{target}.json"
        return json.loads(path.read_text())["Fingerprint"] if path.exists() else None

    @_exclusive
    def record_published(self, target: str, fingerprint: str) -> None:
        """Record that ``target`` now matches the requests with ``fingerprint``."""
        self._write_json(self.state_root / PUBLISHED / f"{target}.json",
                         {"Fingerprint": fingerprint,
                          "PublishedAt": iso_utc(dt.datetime.now(dt.timezone.utc))})

    # ------------------------------------------------------------------ file transfer

    @contextmanager
    def _local_files(self, urls):
        """(local paths, names for reports) of the files under ``urls`` (the history);
        remote ones are copied to a temporary folder. A URL without a data file is an
        ``InputError``."""
        from l4m.io.inputs import data_files, local_inputs, shown_names
        from l4m.io.reader import InputError

        files = []
        for url in urls:
            found = data_files(self.path(url), url)
            if not found:
                raise InputError(f"{url}: no input files found (no such file, or a folder "
                                 "without data files)")
            files += found
        with local_inputs(files, fingerprint=False) as (paths, _):
            yield paths, shown_names(files)

    def _upload_file(self, local_file, target: ObjectStoragePath) -> None:
        from l4m.io.storage import write_bytes

        write_bytes(target, Path(local_file).read_bytes())

    def _upload_tree(self, folder: str, target: ObjectStoragePath) -> None:
        base = Path(folder)
        for file in sorted(p for p in base.rglob("*") if p.is_file()):
            self._upload_file(file, target.joinpath(*file.relative_to(base).parts))
