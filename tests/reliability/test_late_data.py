"""Late, missing and repeated data: each case has one outcome, and none of them raises
a false anomaly or rewrites the history of an interval already detected.

The detector learns 9 days of synthetic history and detects from 10:00 on 2021-01-09,
a stretch without injected anomalies: every anomaly there would be a false one. Each
test works on its own copy of the live files and of the activated detector.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import make_dataset, visible
from l4m.compat import AirflowException
from l4m.hooks.detector import DetectorHook
from l4m.io.inputs import InputChanged
from l4m.io.reader import InputError
from l4m.sensors import IntervalDataSensor
from l4m.triggers import storage

START = "2021-01-09T10:00:00Z"      # no injected anomaly from here to 2021-01-10 04:00
DAY = "20210109"
UTC = dt.timezone.utc


def at(hour: int) -> str:
    return f"2021-01-09T{hour:02d}:00:00Z"


def folder(home: Path, hour: int, live: str = "live") -> Path:
    return home / live / DAY / f"{hour:02d}00"


def data_file(home: Path, hour: int) -> Path:
    return folder(home, hour) / f"{DAY}_{hour:02d}0000.csv"


def write_definition(dataset: Path, home: Path, live: tuple[str, ...] = ("live",)) -> Path:
    doc = json.loads((dataset / "definition.json").read_text())
    doc["Storage"] = {"ResultsPath": f"file://{home}/results", "StatePath": f"file://{home}/state"}
    doc["Schedule"] = {"StartDate": START, "Catchup": True}
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [
        f"file://{home}/{name}/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}" for name in live]
    path = home / "definition.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The synthetic dataset and a detector activated on its history before START."""
    root = tmp_path_factory.mktemp("late")
    dataset = make_dataset(root / "data")
    home = root / "base"
    home.mkdir()
    hook = DetectorHook.from_file(str(write_definition(dataset, home)))
    hook.create_detector()
    hook.activate_detector()
    return dataset, home


@pytest.fixture
def home(base, tmp_path) -> Path:
    """A copy of the activated detector, reading its own copy of the day's live files."""
    dataset, activated = base
    shutil.copytree(activated / "state", tmp_path / "state")
    shutil.copytree(dataset / "live" / DAY, tmp_path / "live" / DAY)
    write_definition(dataset, tmp_path)
    return tmp_path


def hook(home: Path) -> DetectorHook:
    return DetectorHook.from_file(str(home / "definition.json"))


def detect(home: Path, *hours: int) -> list[dict]:
    return [hook(home).detect_interval(at(h)) for h in hours]


def anomalies(markers: list[dict]) -> list[tuple]:
    """(interval, anomalies, groups) of every marker with an anomaly or a group."""
    return [(m["IntervalStart"], m["Anomalies"], m["AnomalyGroups"]) for m in markers
            if sum(m["Anomalies"].values()) or m["AnomalyGroups"]]


def report(home: Path, hour: int) -> Path:
    return home / "results" / "dataChanges" / f"{DAY}_{hour:02d}0000_dataChanges.json"


def detected_input(home: Path, hour: int) -> list[dict]:
    path = home / "results" / "dataQuality" / f"{DAY}_{hour:02d}0000_dataQuality.json"
    return json.loads(path.read_text())["InputFiles"]


def rerun_changes_nothing_but(home: Path, hour: int, marker: dict, *allowed: Path) -> None:
    """A rerun of ``hour`` returns ``marker`` and writes no file but ``allowed``."""
    before = visible(home)
    assert hook(home).detect_interval(at(hour)) == marker
    after = visible(home)
    written = {str(p.relative_to(home)) for p in allowed}
    assert {k: v for k, v in after.items() if k not in written} == before


# ------------------------------------------------------------------ missing data


@pytest.mark.parametrize("case", ["no folder", "empty folder", "only hidden files",
                                  "header only"])
def test_an_interval_without_rows_is_a_gap_without_anomalies(home, case):
    path = data_file(home, 10)
    header = path.read_text().splitlines()[0]
    shutil.rmtree(path.parent)
    if case != "no folder":
        path.parent.mkdir()
    if case == "only hidden files":
        (path.parent / "_SUCCESS").write_text("")
        (path.parent / f".{path.name}.tmp").write_text(header + "\n")
    if case == "header only":
        path.write_text(header + "\n")
    markers = detect(home, 10, 11, 12, 13)
    assert markers[0]["MetricsScored"] == 0
    assert [m["MetricsScored"] for m in markers[1:]] == [42, 42, 42]
    assert anomalies(markers) == []
    quality = hook(home).get_data_quality_metrics(at(10))
    assert quality["Files"] == ([] if case != "header only" else [f"file://{path.parent}"])


def test_missing_combinations_are_gaps_without_anomalies(home):
    path = data_file(home, 10)
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines[1:] if not line.startswith("pc_web,")]
    assert 0 < len(kept) < len(lines) - 1
    path.write_text(lines[0] + "".join(kept))            # a third of the combinations
    markers = detect(home, 10, 11, 12, 13)
    assert [m["MetricsScored"] for m in markers] == [2 * len(kept), 42, 42, 42]
    assert anomalies(markers) == []


def test_a_path_missing_at_the_deadline_leaves_its_combinations_as_gaps(base, home, monkeypatch):
    """Two templated paths, one per platform group; one has no data by the deadline."""
    dataset, _ = base
    for hour in range(10, 14):
        lines = data_file(home, hour).read_text().splitlines(keepends=True)
        for live, keep in (("live_a", lambda row: not row.startswith("pc_web,")),
                           ("live_b", lambda row: row.startswith("pc_web,"))):
            if live == "live_b" and hour == 10:
                continue                                   # never arrives
            target = folder(home, hour, live) / "part-0.csv"
            target.parent.mkdir(parents=True)
            target.write_text(lines[0] + "".join(filter(keep, lines[1:])))
    definition = str(write_definition(dataset, home, ("live_a", "live_b")))
    monkeypatch.setattr(storage, "utcnow", lambda: dt.datetime(2021, 1, 9, 12, tzinfo=UTC))
    waited = IntervalDataSensor(task_id="wait", definition=definition, interval_start=at(10),
                                poke_interval=0.01).execute({})
    assert waited["status"] == "missing"
    assert waited["missing_paths"] == [f"file://{folder(home, 10, 'live_b')}"]
    markers = detect(home, 10, 11, 12, 13)
    assert [m["MetricsScored"] for m in markers] == [28, 42, 42, 42]
    assert anomalies(markers) == []


def test_a_zero_byte_file_fails_the_run_until_it_is_complete(home):
    path = data_file(home, 10)
    content = path.read_bytes()
    path.write_bytes(b"")                 # created, not written yet (a local, non-atomic writer)
    before = visible(home)
    with pytest.raises(InputError, match=f"{path.name}: empty file"):
        hook(home).detect_interval(at(10))
    assert visible(home) == before        # nothing written: the interval is not committed
    path.write_bytes(content)
    markers = detect(home, 10, 11)        # Airflow's retry
    assert [m["MetricsScored"] for m in markers] == [42, 42]
    assert anomalies(markers) == []


def test_a_file_written_while_it_is_read_fails_the_run(home, monkeypatch):
    from l4m.io import reader

    path = data_file(home, 10)
    real = reader.read_records

    def read_then_append(*args, **kwargs):
        result = real(*args, **kwargs)
        with path.open("a") as out:       # the producer appends after the reader's pass
            out.write("pc_web,de,2021-01-09 10:00:00,1,1\n")
        return result

    monkeypatch.setattr(reader, "read_records", read_then_append)
    before = visible(home)
    with pytest.raises(InputChanged, match=f"{path.name}: the file changed while it was read"):
        hook(home).detect_interval(at(10))
    assert visible(home) == before
    monkeypatch.setattr(reader, "read_records", real)
    assert detect(home, 10)[0]["MetricsScored"] == 42


# ------------------------------------------------------------------ late data


def test_late_data_for_an_interval_detected_as_a_gap_is_reported(home):
    moved = home / "late"
    shutil.move(folder(home, 10), moved)
    [gap] = detect(home, 10)
    assert gap["MetricsScored"] == 0
    shutil.move(moved, folder(home, 10))  # the files arrive after the interval was detected
    # a cleared run while the gap is still the newest state: reported, not detected again
    rerun_changes_nothing_but(home, 10, gap, report(home, 10))
    record = json.loads(report(home, 10).read_text())
    path = data_file(home, 10)
    assert record["Added"] == [{"Path": f"file://{path}", "Size": path.stat().st_size,
                                "Sha256": record["Added"][0]["Sha256"]}]
    assert (record["Removed"], record["Changed"], record["DetectedInputFiles"]) == ([], [], [])
    assert record["IntervalStart"] == at(10)
    markers = detect(home, 11, 12, 13)
    assert [m["MetricsScored"] for m in markers] == [42, 42, 42]
    assert anomalies([gap, *markers]) == []
    assert hook(home).interval_marker(at(10)) == gap


def test_rows_of_a_detected_interval_in_a_later_file_are_quarantined(home):
    first, _ = detect(home, 10, 11)
    late = data_file(home, 10).read_text().splitlines(keepends=True)[1:]
    with data_file(home, 12).open("a") as out:   # the producer resends 10:00 with 12:00
        out.writelines(late)
    [third] = detect(home, 12)
    assert third["MetricsScored"] == 42
    assert anomalies([first, third]) == []
    quarantine = (home / "results" / "quarantine" / f"{DAY}_120000_quarantine.csv").read_text()
    assert quarantine.count("timestamp outside the interval") == len(late)


def test_data_uploaded_again_unchanged_is_not_reported(home):
    first, _ = detect(home, 10, 11)
    path = data_file(home, 10)
    path.write_bytes(path.read_bytes())   # uploaded again: new modification time, same bytes
    os.utime(path, (1e9, 2e9))
    rerun_changes_nothing_but(home, 10, first)
    assert not report(home, 10).exists()


def change_values(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    row = lines[1].rstrip("\n").split(",")
    row[-2] = str(int(row[-2]) * 10)
    path.write_text(lines[0] + ",".join(row) + "\n" + "".join(lines[2:]))


@pytest.mark.parametrize("change", ["Changed", "Added", "Removed"])
def test_changed_data_of_a_detected_interval_is_reported_not_detected_again(home, change):
    first, second = detect(home, 10, 11)
    path = data_file(home, 10)
    entry = detected_input(home, 10)[0]
    if change == "Changed":
        change_values(path)
    elif change == "Added":
        (path.parent / "extra.csv").write_text(path.read_text())
    else:
        path.unlink()
    rerun_changes_nothing_but(home, 10, first, report(home, 10))
    record = json.loads(report(home, 10).read_text())
    assert record["DetectedInputFiles"] == [entry]
    changed = {"Changed": [], "Added": [], "Removed": []}
    if change == "Changed":
        changed["Changed"] = [{"Path": entry["Path"],
                               "Before": {"Size": entry["Size"], "Sha256": entry["Sha256"]},
                               "After": record["Changed"][0]["After"]}]
        assert record["Changed"][0]["After"]["Sha256"] != entry["Sha256"]
    elif change == "Added":
        extra = path.parent / "extra.csv"
        changed["Added"] = [{"Path": f"file://{extra}", "Size": extra.stat().st_size,
                             "Sha256": entry["Sha256"]}]
    else:
        changed["Removed"] = [entry]
    assert {k: record[k] for k in changed} == changed
    assert anomalies([first, second, *detect(home, 12)]) == []


def test_intervals_detected_before_fingerprints_are_not_compared(home):
    first, _ = detect(home, 10, 11)
    quality = home / "results" / "dataQuality" / f"{DAY}_100000_dataQuality.json"
    old = json.loads(quality.read_text())
    del old["InputFiles"]                 # as written before fingerprints were recorded
    quality.write_text(json.dumps(old))
    change_values(data_file(home, 10))
    rerun_changes_nothing_but(home, 10, first)
    assert not report(home, 10).exists()


# ------------------------------------------------------------------ through the data sensor


def moving_clock(*times: dt.datetime):
    """A clock that shows each of ``times`` once, then the last one for ever."""
    shown = list(times)
    return lambda: shown.pop(0) if len(shown) > 1 else shown[0]


def test_the_data_sensor_waits_for_its_deadline_whatever_its_timeout(home, monkeypatch):
    """A timeout shorter than the wait must not end it before the deadline: that would
    fail the run with no missing-data record, no alert, and block the next runs."""
    shutil.rmtree(folder(home, 10))
    ready = dt.datetime(2021, 1, 9, 11, tzinfo=UTC)          # interval end, Offset 0
    monkeypatch.setattr(storage, "utcnow", moving_clock(ready, ready, ready,
                                                        ready + dt.timedelta(hours=1)))
    sensor = IntervalDataSensor(task_id="wait", definition=str(home / "definition.json"),
                                interval_start=at(10), poke_interval=0.01, timeout=0.001)
    waited = sensor.execute({})                  # poke mode: pokes until the clock passes
    assert waited["status"] == "missing"
    assert waited["deadline"] == "2021-01-09T12:00:00Z"
    assert Path(waited["record"].removeprefix("file://")).exists()


@pytest.mark.parametrize("fail_on_missing", [False, True])
def test_a_detected_interval_is_never_recorded_missing(home, monkeypatch, fail_on_missing):
    """A cleared run of a detected interval whose files are gone: no missing-data record
    (hence no data-missing alert); the detect step reports the removed file."""
    [first] = detect(home, 10)
    shutil.rmtree(folder(home, 10))
    monkeypatch.setattr(storage, "utcnow", lambda: dt.datetime(2021, 1, 10, tzinfo=UTC))
    sensor = IntervalDataSensor(task_id="wait", definition=str(home / "definition.json"),
                                interval_start=at(10), poke_interval=0.01,
                                fail_on_missing=fail_on_missing)
    assert sensor.execute({})["record"] is None
    assert not (home / "results" / "missingData").exists()
    rerun_changes_nothing_but(home, 10, first, report(home, 10))
    assert len(json.loads(report(home, 10).read_text())["Removed"]) == 1


def test_missing_data_of_an_interval_not_detected_yet_is_still_recorded(home, monkeypatch):
    shutil.rmtree(folder(home, 10))
    monkeypatch.setattr(storage, "utcnow", lambda: dt.datetime(2021, 1, 10, tzinfo=UTC))
    sensor = IntervalDataSensor(task_id="wait", definition=str(home / "definition.json"),
                                interval_start=at(10), poke_interval=0.01, fail_on_missing=True)
    with pytest.raises(AirflowException, match="no data by 2021-01-09T12:00:00Z"):
        sensor.execute({})
    assert (home / "results" / "missingData" / f"{DAY}_100000_missingData.json").exists()


# ------------------------------------------------------------------ on s3://


def test_fingerprints_and_reports_on_s3(home):
    """Remote input: copied and hashed in one pass, listings never stale (s3fs caches)."""
    import hashlib

    import boto3
    from fakes.moto_server import moto_endpoint

    doc = json.loads((home / "definition.json").read_text())
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [
        "s3://l4m/live/{{yyyyMMdd}}/{{HHmm}}"]
    (home / "definition.json").write_text(json.dumps(doc))
    body = data_file(home, 10).read_bytes()
    prefix = f"live/{DAY}/1000/"
    with moto_endpoint() as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="l4m")
        for key in (prefix, f"{prefix}_SUCCESS"):        # a folder marker, a flag file
            s3.put_object(Bucket="l4m", Key=key, Body=b"")
        assert not storage.has_data(f"s3://l4m/{prefix}", "aws_default")
        s3.put_object(Bucket="l4m", Key=f"{prefix}{data_file(home, 10).name}", Body=body)
        detector = hook(home)
        marker = detector.detect_interval(at(10))
        assert marker["MetricsScored"] == 42
        detected = detected_input(home, 10)
        assert detected == [{"Path": f"s3://l4m/{prefix}{data_file(home, 10).name}",
                             "Size": len(body), "Sha256": hashlib.sha256(body).hexdigest()}]
        s3.put_object(Bucket="l4m", Key=f"{prefix}{data_file(home, 10).name}", Body=body)
        assert detector.detect_interval(at(10)) == marker          # same bytes again
        assert not report(home, 10).exists()
        s3.put_object(Bucket="l4m", Key=f"{prefix}late.csv", Body=body)
        assert detector.detect_interval(at(10)) == marker          # the same hook: no stale listing
    added = json.loads(report(home, 10).read_text())["Added"]
    assert [entry["Path"] for entry in added] == [f"s3://l4m/{prefix}late.csv"]
