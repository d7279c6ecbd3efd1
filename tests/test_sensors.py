"""Sensors and their storage triggers, on real files in a temporary folder, with a fixed clock."""
from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import json
from pathlib import Path

import pytest
from l4m.compat import AirflowException, AirflowSkipException, TaskDeferred
from l4m.io.storage import read_definition
from l4m.sensors import AnomalyResultsSensor, DetectorStatusSensor, IntervalDataSensor
from l4m.triggers import storage
from l4m.triggers.storage import (
    DetectorStatusTrigger,
    FileArrivalTrigger,
    IntervalDataTrigger,
)

UTC = dt.timezone.utc
START = "2021-03-01T00:00:00Z"
T0 = dt.datetime(2021, 3, 1, tzinfo=UTC)
READY = T0 + dt.timedelta(hours=1, seconds=300)  # interval end + Offset
DEADLINE = READY + dt.timedelta(seconds=1800)  # + Schedule.DataDeadlineSeconds
POLL = 0.005


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path


def write_definition(root: Path, **metric_set: object) -> str:
    document = {
        "AnomalyDetectorName": "ecommerce",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"}],
            "DimensionList": ["platform"],
            "TimestampColumn": {"ColumnName": "timestamp",
                                "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "Offset": 300,
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": [f"file://{root}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
            }},
            **metric_set,
        },
        "Storage": {"ResultsPath": f"file://{root}/results", "StatePath": f"file://{root}/state"},
        "Schedule": {"DataDeadlineSeconds": 1800},
    }
    path = root / "definition.json"
    path.write_text(json.dumps(document))
    return str(path)


@pytest.fixture
def definition(root: Path) -> str:
    return write_definition(root)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch):
    """Set the sensors' clock: ``clock(moment)``."""
    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(storage, "utcnow", lambda: moment)
    return set_now


def put(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def data_file(root: Path, name: str = "part-0.csv") -> Path:
    return put(root / "live" / "20210301" / "0000" / name, "timestamp,platform,views\n")


def marker(root: Path, **anomalies: int) -> dict:
    content = {"AnomalyDetectorName": "ecommerce", "IntervalStart": START, "Status": "DETECTED",
               "MetricsScored": 42, "Anomalies": anomalies, "AnomalyGroups": 1}
    put(root / "results" / "intervals" / "20210301_000000_interval.json", json.dumps(content))
    return content


def status_file(root: Path, status: str, **extra: str) -> dict:
    content = {"AnomalyDetectorName": "ecommerce", "Status": status, **extra}
    put(root / "state" / "detector.json", json.dumps(content))
    return content


def poke(sensor) -> object:
    """One poke: False, or the value the task would push to XCom."""
    result = sensor.poke({})
    return result.xcom_value if result else False


async def first_event(trigger, *, then=None):
    """The first event of ``trigger``, while ``then`` (a coroutine) runs beside it."""
    run = trigger.run()
    side = asyncio.ensure_future(then) if then is not None else None
    try:
        return await asyncio.wait_for(run.__anext__(), timeout=5)
    finally:
        await run.aclose()
        if side is not None:
            await side


def deferred(sensor):
    """Run ``sensor.execute`` and return the trigger it defers to."""
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    assert info.value.method_name == "execute_complete"
    return info.value.trigger


def data_sensor(definition: str, **kwargs) -> IntervalDataSensor:
    return IntervalDataSensor(task_id="wait_for_data", definition=definition,
                              interval_start=START, poke_interval=POLL, **kwargs)


# ----------------------------------------------------------------------- IntervalDataSensor


def test_data_sensor_refuses_before_interval_end_plus_offset(root, definition, clock):
    data_file(root)
    sensor = data_sensor(definition)
    clock(READY - dt.timedelta(seconds=1))
    assert poke(sensor) is False
    clock(READY)
    assert poke(sensor) == {"status": "present", "interval_start": START,
                            "paths": [f"file://{root}/live/20210301/0000"]}


def test_data_sensor_waits_for_a_visible_file_at_any_depth(root, definition, clock):
    clock(READY)
    sensor = data_sensor(definition)
    assert poke(sensor) is False  # no folder yet
    put(root / "live" / "20210301" / "0000" / ".part-0.csv.tmp")
    put(root / "live" / "20210301" / "0000" / "_SUCCESS")
    put(root / "live" / "20210301" / "0000" / "_tmp" / "part-0.csv")
    assert poke(sensor) is False  # hidden names only, as the reader skips them
    put(root / "live" / "20210301" / "0000" / "platform=web" / "part-0.csv")
    assert poke(sensor)["status"] == "present"


def test_data_sensor_renders_paths_in_the_metric_set_timezone(root, clock):
    definition = write_definition(root, Timezone="America/New_York")
    put(root / "live" / "20210228" / "1900" / "part-0.csv")  # 2021-03-01T00:00Z in New York
    clock(READY)
    assert poke(data_sensor(definition))["paths"] == [f"file://{root}/live/20210228/1900"]


def test_missing_data_at_the_deadline_is_recorded_and_succeeds(root, definition, clock):
    sensor = data_sensor(definition)
    clock(DEADLINE - dt.timedelta(seconds=1))
    assert poke(sensor) is False
    clock(DEADLINE)
    result = sensor.execute({})  # poke mode: the first poke ends the wait
    record = root / "results" / "missingData" / "20210301_000000_missingData.json"
    path = f"file://{root}/live/20210301/0000"
    assert result == {"status": "missing", "interval_start": START, "paths": [path],
                      "missing_paths": [path], "deadline": "2021-03-01T01:35:00Z",
                      "record": f"file://{record}"}
    assert json.loads(record.read_text()) == {
        "AnomalyDetectorName": "ecommerce", "IntervalStart": START,
        "Deadline": "2021-03-01T01:35:00Z", "Paths": [path]}


def test_missing_data_before_the_start_date_is_not_recorded(root, clock):
    definition = write_definition(root)
    document = json.loads(Path(definition).read_text())
    document["Schedule"]["StartDate"] = "2021-03-01T01:00:00Z"     # after START
    Path(definition).write_text(json.dumps(document))
    clock(DEADLINE)
    result = data_sensor(definition).execute({})
    assert (result["status"], result["record"]) == ("missing", None)
    assert not (root / "results" / "missingData").exists()


def test_deadline_defaults_to_one_interval(root, clock):
    definition = write_definition(root)
    document = json.loads(Path(definition).read_text())
    del document["Schedule"]
    Path(definition).write_text(json.dumps(document))
    trigger = data_sensor(definition).build_trigger(read_definition(definition))
    assert (trigger.not_before, trigger.deadline) == ("2021-03-01T01:05:00Z",
                                                       "2021-03-01T02:05:00Z")


def test_fail_on_missing_raises_after_writing_the_record(root, definition, clock):
    clock(DEADLINE)
    with pytest.raises(AirflowException, match="no data by 2021-03-01T01:35:00Z"):
        poke(data_sensor(definition, fail_on_missing=True))
    assert (root / "results" / "missingData" / "20210301_000000_missingData.json").exists()


def test_deferred_data_sensor_completes_through_its_trigger(root, definition, clock):
    clock(READY)
    sensor = data_sensor(definition, deferrable=True)
    trigger = deferred(sensor)
    assert isinstance(trigger, IntervalDataTrigger)

    async def data_arrives() -> None:
        await asyncio.sleep(POLL * 3)
        data_file(root)

    event = asyncio.run(first_event(trigger, then=data_arrives()))
    assert event.payload == {"status": "present", "paths": [f"file://{root}/live/20210301/0000"]}
    assert sensor.execute_complete({}, event.payload)["status"] == "present"


def test_deferred_data_sensor_does_not_defer_when_data_is_there(root, definition, clock):
    data_file(root)
    clock(READY)
    assert data_sensor(definition, deferrable=True).execute({})["status"] == "present"


def test_deferred_data_sensor_records_missing_data_from_the_event(root, definition, clock):
    clock(READY)
    sensor = data_sensor(definition, deferrable=True)
    trigger = deferred(sensor)
    clock(DEADLINE)
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "missing"
    assert sensor.execute_complete({}, event.payload)["status"] == "missing"
    assert (root / "results" / "missingData" / "20210301_000000_missingData.json").exists()


def test_deferred_data_sensor_waits_at_least_until_its_deadline(root, definition, clock):
    clock(READY)
    sensor = data_sensor(definition, deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    assert info.value.timeout >= DEADLINE - T0        # the deadline counted from the start
    assert info.value.trigger.deadline == "2021-03-01T01:35:00Z"


def test_error_event_fails_the_task(root, definition):
    sensor = data_sensor(definition, deferrable=True)
    with pytest.raises(AirflowException, match="PermissionError: denied"):
        sensor.execute_complete({}, {"status": "error", "message": "PermissionError: denied"})
    with pytest.raises(AirflowException, match="no event"):
        sensor.execute_complete({}, None)


def test_trigger_reports_a_failing_check_as_an_error_event(clock, monkeypatch):
    clock(READY)

    def broken(url: str, aws_conn_id: str | None) -> bool:
        raise PermissionError("denied")

    monkeypatch.setattr(storage, "has_data", broken)
    trigger = IntervalDataTrigger(urls=["file:///nowhere"], not_before=START,
                                  deadline="2021-03-01T02:00:00Z", poll_interval=POLL)
    event = asyncio.run(first_event(trigger))
    assert event.payload == {"status": "error", "message": "PermissionError: denied"}


def test_no_io_before_execute_and_template_fields(root):
    sensor = data_sensor(str(root / "no-such-definition.json"))
    assert set(sensor.template_fields) == {"definition", "interval_start"}
    assert IntervalDataSensor(task_id="t", definition="d.json").interval_start == (
        "{{ data_interval_start }}")
    with pytest.raises(FileNotFoundError):
        sensor.poke({})


# --------------------------------------------------------------------- AnomalyResultsSensor


def results_sensor(definition: str, **kwargs) -> AnomalyResultsSensor:
    return AnomalyResultsSensor(task_id="wait_for_results", definition=definition,
                                interval_start="2021-03-01 00:00:00+00:00", poke_interval=POLL,
                                **kwargs)


def test_results_sensor_returns_the_marker(root, definition):
    sensor = results_sensor(definition)
    assert poke(sensor) is False
    content = marker(root, views=3, revenue=0)
    assert poke(sensor) == content
    assert set(sensor.template_fields) == {"definition", "interval_start"}


def test_results_sensor_skips_below_min_anomalies(root, definition):
    marker(root, views=1, revenue=1)
    assert poke(results_sensor(definition, min_anomalies=2))["Anomalies"] == {
        "views": 1, "revenue": 1}
    with pytest.raises(AirflowSkipException, match="2 anomalies, fewer than min_anomalies=3"):
        poke(results_sensor(definition, min_anomalies=3))


def test_deferred_results_sensor_completes_through_its_trigger(root, definition):
    sensor = results_sensor(definition, deferrable=True)
    trigger = deferred(sensor)
    assert isinstance(trigger, FileArrivalTrigger)
    assert trigger.url == f"file://{root}/results/intervals/20210301_000000_interval.json"

    async def results_arrive() -> None:
        await asyncio.sleep(POLL * 3)
        marker(root, views=3)

    event = asyncio.run(first_event(trigger, then=results_arrive()))
    assert sensor.execute_complete({}, event.payload)["Anomalies"] == {"views": 3}


# --------------------------------------------------------------------- DetectorStatusSensor


def status_sensor(definition: str, **kwargs) -> DetectorStatusSensor:
    return DetectorStatusSensor(task_id="wait_for_detector", definition=definition,
                                poke_interval=POLL, **kwargs)


def test_status_sensor_waits_for_a_target_status(root, definition):
    sensor = status_sensor(definition)
    assert poke(sensor) is False
    status_file(root, "LEARNING")
    assert poke(sensor) is False
    content = status_file(root, "ACTIVE")
    assert poke(sensor) == content
    status_file(root, "BACK_TEST_COMPLETE")
    assert poke(sensor)["Status"] == "BACK_TEST_COMPLETE"


def test_status_sensor_fails_with_the_failure_reason(root, definition):
    status_file(root, "FAILED", FailureReason="no data in the historical path")
    with pytest.raises(AirflowException, match="FAILED: no data in the historical path"):
        status_sensor(definition).execute({})


def test_status_sensor_rejects_unknown_statuses():
    with pytest.raises(ValueError, match="RUNNING"):
        DetectorStatusSensor(task_id="t", definition="d.json", target_statuses=("RUNNING",))


def test_deferred_status_sensor_failure_through_its_trigger(root, definition):
    status_file(root, "ACTIVATING")
    sensor = status_sensor(definition, deferrable=True)
    trigger = deferred(sensor)
    assert isinstance(trigger, DetectorStatusTrigger)

    async def detector_fails() -> None:
        await asyncio.sleep(POLL * 3)
        status_file(root, "FAILED", FailureReason="bad data")

    event = asyncio.run(first_event(trigger, then=detector_fails()))
    assert event.payload["status"] == "failure"
    with pytest.raises(AirflowException, match="detector ecommerce is FAILED: bad data"):
        sensor.execute_complete({}, event.payload)


def test_status_file_without_a_status_is_an_error_event(root):
    put(root / "detector.json", json.dumps({"format": 1, "name": "ecommerce"}))
    trigger = DetectorStatusTrigger(url=f"file://{root}/detector.json",
                                    target_statuses=["ACTIVE"], poll_interval=POLL)
    event = asyncio.run(first_event(trigger))
    assert event.payload["status"] == "error"
    assert "not a detector status file" in event.payload["message"]


# ------------------------------------------------------------------------------- serialise


@pytest.mark.parametrize("trigger", [
    IntervalDataTrigger(urls=["file:///data/live/20210301/0000"], not_before=START,
                        deadline="2021-03-01T02:05:00Z", poll_interval=30.0),
    FileArrivalTrigger(url="s3://bucket/results/intervals/20210301_000000_interval.json",
                       aws_conn_id="aws_default"),
    DetectorStatusTrigger(url="file:///state/detector.json", target_statuses=("ACTIVE",),
                          failure_statuses=("FAILED", "DEACTIVATED"), poll_interval=5),
], ids=lambda trigger: type(trigger).__name__)
def test_serialize_round_trip(trigger):
    classpath, kwargs = trigger.serialize()
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain values only
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert type(again) is type(trigger)
    assert again.serialize() == (classpath, kwargs)


def test_sensor_passes_its_connection_to_the_trigger(definition):
    trigger = deferred(results_sensor(definition, deferrable=True, aws_conn_id="lake"))
    assert trigger.serialize()[1] == {
        "url": trigger.url, "aws_conn_id": "lake", "poll_interval": POLL}
