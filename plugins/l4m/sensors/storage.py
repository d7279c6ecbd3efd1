"""Sensors on a detector's storage: interval data, processed intervals, detector status.

Each sensor builds a trigger from :mod:`l4m.triggers.storage` and uses it both ways: in
poke (or reschedule) mode it calls the trigger's ``check`` once per poke; deferrable,
it defers to the trigger and turns the trigger's event into its result in
``execute_complete``. Paths come from the detector definition and
:func:`l4m.locations.resolve`; nothing is read before ``execute``.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from l4m.compat import (
    AirflowException,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    default_deferrable,
)
from l4m.intervals import interval_paths, interval_stamp, iso_utc, utc_time
from l4m.io.storage import open_path, read_definition, write_text
from l4m.locations import resolve
from l4m.spec import DetectorSpec
from l4m.triggers.storage import (
    DETECTOR_STATUSES,
    DetectorStatusTrigger,
    FileArrivalTrigger,
    IntervalDataTrigger,
    StoragePollTrigger,
    read_json,
)


def marker_url(spec: DetectorSpec, start: dt.datetime) -> str:
    """The URL of the marker the detect step writes once it processed the interval."""
    return f"{resolve(spec).results}/intervals/{interval_stamp(start)}_interval.json"


class _StorageSensor(BaseSensorOperator):
    """A sensor whose wait is one :class:`StoragePollTrigger`, polled or deferred to."""

    template_fields: Sequence[str] = ("definition",)

    def __init__(
        self,
        *,
        definition: str,
        aws_conn_id: str | None = "aws_default",
        deferrable: bool = default_deferrable(),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.aws_conn_id = aws_conn_id
        self.deferrable = deferrable

    def load_spec(self) -> DetectorSpec:
        return read_definition(self.definition, self.aws_conn_id)

    def build_trigger(self, spec: DetectorSpec) -> StoragePollTrigger:
        """The trigger (and check) of this wait."""
        raise NotImplementedError

    def finish(self, spec: DetectorSpec, payload: dict) -> Any:
        """The task's result (XCom) for the payload of a trigger event, or raise."""
        raise NotImplementedError

    def poke(self, context: Context) -> bool | PokeReturnValue:
        spec = self.load_spec()
        payload = self.build_trigger(spec).check()
        return False if payload is None else PokeReturnValue(True, self.finish(spec, payload))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        spec = self.load_spec()
        trigger = self.build_trigger(spec)
        payload = trigger.check()
        if payload is not None:
            return self.finish(spec, payload)
        self.defer(
            trigger=trigger,
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict | None = None) -> Any:
        """Resume after the trigger fired: raise on an error event, else finish."""
        if not event:
            raise AirflowException(f"{self.task_id}: the trigger sent no event")
        if event.get("status") == "error":
            raise AirflowException(event.get("message", "trigger error"))
        return self.finish(self.load_spec(), event)


class _IntervalSensor(_StorageSensor):
    """A storage sensor about one interval, given by its start."""

    template_fields: Sequence[str] = ("definition", "interval_start")

    def __init__(self, *, interval_start: str = "{{ data_interval_start }}", **kwargs: Any):
        super().__init__(**kwargs)
        self.interval_start = interval_start

    def interval_start_utc(self) -> dt.datetime:
        return utc_time(self.interval_start)


class IntervalDataSensor(_IntervalSensor):
    """Wait for the source data of one interval, at the definition's TemplatedPathList.

    Each templated path, rendered for the interval start in the metric set's timezone, must
    be a file or a folder holding a file (names starting with ``.`` or ``_`` do not count).
    Success never comes before interval end + ``Offset``. At the deadline (that time plus
    ``Schedule.DataDeadlineSeconds``, default one interval) the sensor writes
    ``<results>/missingData/<yyyyMMdd_HHmmss>_missingData.json`` and succeeds with status
    ``missing``, so the detect step still runs the interval as a gap. ``timeout`` is
    raised, if needed, to reach the deadline: the wait ends at the deadline, not before.
    An interval already detected (a cleared run) or before ``Schedule.StartDate`` is
    never recorded missing: ``record`` is None and nothing fails.

    XCom: ``{"status": "present", "paths", "interval_start"}`` or ``{"status": "missing",
    "paths", "missing_paths", "deadline", "interval_start", "record"}``.

    :param definition: path or URL of the detector definition JSON file (templated).
    :param interval_start: start of the interval, ISO-8601 (templated; default
        ``{{ data_interval_start }}``).
    :param fail_on_missing: raise instead of succeeding once the deadline passed (the
        missing-data record is written first).
    :param aws_conn_id: Airflow connection for ``s3://`` definitions and storage.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    def __init__(self, *, fail_on_missing: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on_missing = fail_on_missing

    def _times(self, spec: DetectorSpec) -> tuple[dt.datetime, dt.datetime]:
        """(ready, deadline): interval end + Offset, and that + DataDeadlineSeconds."""
        start = self.interval_start_utc()
        ready = start + dt.timedelta(seconds=spec.interval_seconds + spec.offset_seconds)
        grace = spec.pipeline.data_deadline_seconds
        return ready, ready + dt.timedelta(seconds=spec.interval_seconds if grace is None
                                           else grace)

    def execute(self, context: Context) -> Any:
        # A timeout before the deadline would fail the task with no missing-data record
        # and no alert, and block the next runs (depends_on_past): wait until the deadline.
        wait = (self._times(self.load_spec())[1] - self.interval_start_utc()).total_seconds()
        if self.timeout < wait + self.poke_interval:
            self.log.info("timeout raised from %ss to %ss to reach the data deadline",
                          self.timeout, wait + self.poke_interval)
            self.timeout = wait + self.poke_interval
        return super().execute(context)

    def build_trigger(self, spec: DetectorSpec) -> IntervalDataTrigger:
        if not spec.templated_paths:
            raise AirflowException(f"{spec.name}: the definition has no TemplatedPathList")
        ready, deadline = self._times(spec)
        return IntervalDataTrigger(
            urls=interval_paths(spec, int(self.interval_start_utc().timestamp())),
            not_before=iso_utc(ready),
            deadline=iso_utc(deadline),
            aws_conn_id=self.aws_conn_id,
            poll_interval=self.poke_interval,
        )

    def finish(self, spec: DetectorSpec, payload: dict) -> dict:
        start = self.interval_start_utc()
        result = {**payload, "interval_start": iso_utc(start)}
        if payload["status"] != "missing":
            return result
        if spec.pipeline.before_start(start):
            self.log.warning("%s: no data at %s for interval %s, before Schedule.StartDate "
                             "(%s): not recorded as missing, the detector never detects it",
                             spec.name, payload["missing_paths"], iso_utc(start),
                             iso_utc(spec.pipeline.start_date))
            return {**result, "record": None}
        if read_json(marker_url(spec, start), self.aws_conn_id) is not None:
            self.log.warning("%s: no data at %s, but interval %s was already detected: not "
                             "recorded as missing (the detect step reports what changed)",
                             spec.name, payload["missing_paths"], iso_utc(start))
            return {**result, "record": None}
        record = f"{resolve(spec).results}/missingData/{interval_stamp(start)}_missingData.json"
        write_text(open_path(record, self.aws_conn_id), json.dumps({
            "AnomalyDetectorName": spec.name,
            "IntervalStart": iso_utc(start),
            "Deadline": payload["deadline"],
            "Paths": payload["missing_paths"],
        }, indent=1))
        message = f"{spec.name}: no data by {payload['deadline']} at {payload['missing_paths']}"
        if self.fail_on_missing:
            raise AirflowException(message)
        self.log.warning("%s (recorded in %s)", message, record)
        return {**result, "record": record}


class AnomalyResultsSensor(_IntervalSensor):
    """Wait until an interval was processed: ``<results>/intervals/<yyyyMMdd_HHmmss>_interval.json``.

    Usable from other DAGs to act on a detector's results. With ``min_anomalies``, an
    interval with fewer anomalies (summed over the measures) is a soft outcome: the task is
    skipped (AirflowSkipException), so downstream tasks only run on anomalous intervals.

    XCom: the marker's JSON (``AnomalyDetectorName``, ``IntervalStart``, ``Status``,
    ``MetricsScored``, ``Anomalies``, ``AnomalyGroups``).

    :param definition: path or URL of the detector definition JSON file (templated).
    :param interval_start: start of the interval, ISO-8601 (templated; default
        ``{{ data_interval_start }}``).
    :param min_anomalies: skip the task when the interval has fewer anomalies than this.
    :param aws_conn_id: Airflow connection for ``s3://`` definitions and storage.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    def __init__(self, *, min_anomalies: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.min_anomalies = min_anomalies

    def build_trigger(self, spec: DetectorSpec) -> FileArrivalTrigger:
        return FileArrivalTrigger(url=marker_url(spec, self.interval_start_utc()),
                                  aws_conn_id=self.aws_conn_id, poll_interval=self.poke_interval)

    def finish(self, spec: DetectorSpec, payload: dict) -> dict:
        marker = payload["content"]
        count = sum((marker.get("Anomalies") or {}).values())
        if count < self.min_anomalies:
            raise AirflowSkipException(
                f"{spec.name} {marker.get('IntervalStart')}: {count} anomalies, "
                f"fewer than min_anomalies={self.min_anomalies}"
            )
        return marker


class DetectorStatusSensor(_StorageSensor):
    """Wait until the detector's status (``<state>/detector.json``) is a target status.

    Fails with the FailureReason when the status is ``FAILED`` (or another of
    ``failure_statuses``).

    XCom: the DescribeAnomalyDetector-shaped status document.

    :param definition: path or URL of the detector definition JSON file (templated).
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that fail the task.
    :param aws_conn_id: Airflow connection for ``s3://`` definitions and storage.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    def __init__(
        self,
        *,
        target_statuses: Sequence[str] = ("ACTIVE", "BACK_TEST_COMPLETE"),
        failure_statuses: Sequence[str] = ("FAILED",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        unknown = sorted({*target_statuses, *failure_statuses} - set(DETECTOR_STATUSES))
        if unknown:
            raise ValueError(f"unknown detector statuses {unknown} (known: {DETECTOR_STATUSES})")
        self.target_statuses = tuple(target_statuses)
        self.failure_statuses = tuple(failure_statuses)

    def build_trigger(self, spec: DetectorSpec) -> DetectorStatusTrigger:
        return DetectorStatusTrigger(
            url=f"{resolve(spec).state}/detector.json",
            target_statuses=self.target_statuses,
            failure_statuses=self.failure_statuses,
            aws_conn_id=self.aws_conn_id,
            poll_interval=self.poke_interval,
        )

    def finish(self, spec: DetectorSpec, payload: dict) -> dict:
        if payload["status"] == "failure":
            raise AirflowException(payload["message"])
        return payload["detector"]
