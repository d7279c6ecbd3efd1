"""The detector hook: lifecycle statuses, per-interval detection, versioned state,
feedback, and byte-identity with ``l4m replay`` over the same intervals."""
from __future__ import annotations

import datetime as dt
import filecmp
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from l4m import runner
from l4m.hooks.detector import DetectorError, DetectorHook, IntervalNotDetectable
from l4m.io.reader import read_records
from l4m.synth import write_dataset

LIVE_START = pd.Timestamp("2021-01-15T00:00:00Z")
HOURS = 24


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, seed=3, days=16, patterns="easy")
    return root / "ecommerce"


def make_hook(dataset: Path, tmp: Path, **schedule) -> DetectorHook:
    doc = json.loads((dataset / "definition.json").read_text())
    doc["Storage"] = {"ResultsPath": f"file://{tmp}/results", "StatePath": f"file://{tmp}/state"}
    doc["Schedule"] = {"StartDate": LIVE_START.strftime("%Y-%m-%dT%H:%M:%SZ"), **schedule}
    path = tmp / "definition.json"
    tmp.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return DetectorHook.from_file(str(path))


def result_files(root: Path) -> list[str]:
    kept = ("anomalyResults", "anomalyGroups", "intervals")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).parts[0].startswith(kept))


def test_lifecycle_statuses_and_idempotent_create(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    with pytest.raises(DetectorError, match="does not exist"):
        hook.describe_detector()
    arn = hook.create_detector()["AnomalyDetectorArn"]
    assert arn.endswith(":AnomalyDetector:ecommerce")
    assert hook.describe_detector()["Status"] == "INACTIVE"
    assert hook.create_detector()["AnomalyDetectorArn"] == arn
    with pytest.raises(DetectorError, match="activate it first"):
        hook.detect_interval(LIVE_START)
    assert hook.activate_detector()["Status"] == "ACTIVE"
    assert hook.back_test_detector()["intervals_detected"] > 0
    assert hook.describe_detector()["Status"] == "BACK_TEST_COMPLETE"
    assert (tmp_path / "results" / "backtest" / "anomalyGroups.jsonl").exists()


def test_failed_activation_records_the_reason(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    broken = tmp_path / "history.csv"
    broken.write_text("nothing,useful\n1,2\n")
    doc = json.loads((tmp_path / "definition.json").read_text())
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["HistoricalDataPathList"] = [
        f"file://{broken}"]
    (tmp_path / "definition.json").write_text(json.dumps(doc))
    hook = DetectorHook.from_file(str(tmp_path / "definition.json"))
    hook.create_detector()
    with pytest.raises(Exception, match="timestamp"):
        hook.activate_detector()
    described = hook.describe_detector()
    assert described["Status"] == "FAILED"
    assert "timestamp" in described["FailureReason"]


def test_structure_change_after_learning_is_refused(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    hook.activate_detector()
    doc = json.loads((tmp_path / "definition.json").read_text())
    doc["MetricSet"]["DimensionList"] = ["platform"]
    (tmp_path / "definition.json").write_text(json.dumps(doc))
    with pytest.raises(DetectorError, match="dimensions changed"):
        DetectorHook.from_file(str(tmp_path / "definition.json")).create_detector()


def test_scheduled_intervals_match_replay_byte_for_byte(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path / "dag")
    hook.create_detector()
    hook.activate_detector()
    for h in range(HOURS):
        hook.detect_interval((LIVE_START + pd.Timedelta(hours=h)).isoformat())

    spec = hook.spec
    history = read_records([str(dataset / "backtest" / "input.csv")], spec)
    history.records = history.records[history.records["timestamp"] < LIVE_START]
    live_files = sorted(str(p) for p in (dataset / "live").rglob("*.csv")
                        if LIVE_START <= pd.Timestamp(p.stem.replace("_", "T"), tz="UTC")
                        < LIVE_START + pd.Timedelta(hours=HOURS))
    replayed = tmp_path / "replay"
    runner.replay(spec, read_records(live_files, spec), replayed, history=history)

    ours = tmp_path / "dag" / "results"
    assert result_files(ours) == result_files(replayed)
    assert any("metricValueAnomalyScore" in f for f in result_files(ours))
    for name in result_files(ours):
        assert filecmp.cmp(ours / name, replayed / name, shallow=False), name


def detected_hook(dataset: Path, tmp: Path, hours: int, **hook_args) -> DetectorHook:
    """A created, activated hook that detected the first ``hours`` live intervals."""
    hook = make_hook(dataset, tmp)
    for name, value in hook_args.items():
        setattr(hook, name, value)
    hook.create_detector()
    hook.activate_detector()
    for h in range(hours):
        hook.detect_interval(LIVE_START + pd.Timedelta(hours=h))
    return hook


def test_rerun_of_an_interval_changes_no_file(dataset, tmp_path):
    hook = detected_hook(dataset, tmp_path, 6)
    def files():   # not the lock file, which names its last holder
        return {p: p.read_bytes() for p in tmp_path.rglob("*")
                if p.is_file() and p.name != ".lock"}

    before = files()
    again = hook.detect_interval(LIVE_START + pd.Timedelta(hours=3))       # cleared and rerun
    assert files() == before
    assert again == hook.interval_marker(LIVE_START + pd.Timedelta(hours=3))


def test_rerun_of_an_interval_whose_version_was_pruned_returns_its_marker(dataset, tmp_path):
    hook = detected_hook(dataset, tmp_path, 3)
    shutil.rmtree(tmp_path / "state" / "versions" / "20210115_000000")   # lifecycle rule
    again = hook.detect_interval(LIVE_START)
    assert again == hook.interval_marker(LIVE_START)
    assert not (tmp_path / "state" / "versions" / "20210115_000000").exists()


def test_only_the_newest_state_versions_are_kept(dataset, tmp_path):
    hook = detected_hook(dataset, tmp_path, 4, keep_versions=2)
    marker = hook.interval_marker(LIVE_START)
    versions = sorted(p.name for p in (tmp_path / "state" / "versions").iterdir())
    assert versions == ["20210115_020000", "20210115_030000"]
    assert hook.detect_interval(LIVE_START) == marker           # cleared and rerun later


def test_versions_are_added_per_interval(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    hook.activate_detector()
    hook.detect_interval(LIVE_START)
    hook.detect_interval(LIVE_START + pd.Timedelta(hours=1))
    versions = sorted(p.name for p in (tmp_path / "state" / "versions").iterdir())
    assert versions == ["20210114_230000", "20210115_000000", "20210115_010000"]
    for before in (5, 1):                                 # the history's last interval too
        with pytest.raises(IntervalNotDetectable, match=r"20210114_\d{6} starts before "
                           r"Schedule.StartDate \(2021-01-15T00:00:00Z\)"):
            hook.detect_interval(LIVE_START - pd.Timedelta(hours=before))
    hook.detect_interval(LIVE_START + pd.Timedelta(hours=3))
    with pytest.raises(IntervalNotDetectable, match="state already covers 20210115_030000"):
        hook.detect_interval(LIVE_START + pd.Timedelta(hours=2))   # older than the newest


def test_without_a_start_date_the_history_is_not_detected_again(dataset, tmp_path):
    make_hook(dataset, tmp_path)
    definition = tmp_path / "definition.json"
    doc = json.loads(definition.read_text())
    del doc["Schedule"]
    definition.write_text(json.dumps(doc))
    hook = DetectorHook.from_file(str(definition))
    hook.create_detector()
    hook.activate_detector()                     # learns the whole history
    [last] = sorted(p.name for p in (tmp_path / "state" / "versions").iterdir())
    with pytest.raises(IntervalNotDetectable, match=f"interval {last} was learned in the history"):
        hook.detect_interval(pd.Timestamp(dt.datetime.strptime(last, "%Y%m%d_%H%M%S"), tz="UTC"))


def test_missing_interval_data_is_a_gap(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    hook.activate_detector()
    empty = tmp_path / "nowhere" / "{{yyyyMMdd}}" / "{{HHmm}}"
    doc = json.loads((tmp_path / "definition.json").read_text())
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [f"file://{empty}"]
    (tmp_path / "definition.json").write_text(json.dumps(doc))
    hook = DetectorHook.from_file(str(tmp_path / "definition.json"))
    marker = hook.detect_interval(LIVE_START)
    assert marker["MetricsScored"] == 0
    assert sum(marker["Anomalies"].values()) == 0
    quality = hook.get_data_quality_metrics(LIVE_START)
    assert quality["Files"] == []


def test_groups_listing_and_feedback(dataset, tmp_path):
    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    hook.activate_detector()
    for h in range(HOURS):
        hook.detect_interval(LIVE_START + pd.Timedelta(hours=h))
    summaries = hook.list_anomaly_groups()
    assert summaries, "the live day has anomalies"
    assert hook.list_anomaly_groups(sensitivity=101) == []
    gid = max(summaries, key=lambda s: s["AnomalyGroupScore"])["AnomalyGroupId"]
    series = hook.list_anomaly_group_time_series(gid)["TimeSeriesList"]
    hook.put_feedback(gid, series[0]["TimeSeriesId"], is_anomaly=False)
    assert hook.get_feedback(gid) == [{"TimeSeriesId": series[0]["TimeSeriesId"],
                                       "IsAnomaly": False}]
    with pytest.raises(DetectorError, match="no time series"):
        hook.put_feedback(gid, "0" * 40, is_anomaly=True)
    with pytest.raises(DetectorError, match="no anomaly group"):
        hook.get_anomaly_group("missing")
    # The verdict reaches the model state used by the next interval.
    hook.detect_interval(LIVE_START + pd.Timedelta(hours=HOURS))
    versions = sorted((tmp_path / "state" / "versions").iterdir())
    import numpy as np
    with np.load(versions[-1] / "model.npz") as arrays:
        assert (arrays["fb_level"] > 0).sum() >= 1


def test_bad_rows_of_an_interval_are_quarantined_by_file_row_and_field(dataset, tmp_path):
    live = tmp_path / "live"
    shutil.copytree(dataset / "live", live)
    [interval_file] = (live / "20210115" / "0000").glob("*.csv")
    lines = interval_file.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0] + ",lots,40.80"        # row 3: views not a number
    lines.append("pc_web,us,2021-01-16 00:00:00,1,1")            # row outside the interval
    interval_file.write_text("\n".join(lines) + "\n")
    hook = make_hook(dataset, tmp_path)
    doc = json.loads((tmp_path / "definition.json").read_text())
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [
        f"file://{live}/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"]
    (tmp_path / "definition.json").write_text(json.dumps(doc))
    hook = DetectorHook.from_file(str(tmp_path / "definition.json"))
    hook.create_detector()
    hook.activate_detector()
    marker = hook.detect_interval(LIVE_START)
    assert marker["MetricsScored"] == 41   # all but the bad row's views (its revenue is used)
    quarantine = pd.read_csv(tmp_path / "results" / "quarantine" / "20210115_000000_quarantine.csv")
    assert set(quarantine["file"]) == {str(interval_file)}
    assert {(r.row, r.field) for r in quarantine.itertuples()} >= {(3, "views")}
    assert len(quarantine) == 2
    quality = hook.get_data_quality_metrics(LIVE_START)["DataQualityMetricList"]
    assert quality, "the interval's data quality metrics are recorded"


def test_detect_operator_fails_at_once_on_an_interval_it_cannot_detect(dataset, tmp_path):
    from l4m.compat import AirflowFailException
    from l4m.operators.detector import DetectAnomaliesOperator

    hook = make_hook(dataset, tmp_path)
    hook.create_detector()
    hook.activate_detector()
    op = DetectAnomaliesOperator(task_id="detect_anomalies",
                                 definition=str(tmp_path / "definition.json"),
                                 interval_start="2021-01-14T23:00:00Z")
    ti = type("TI", (), {"dag_id": "l4m_ecommerce_detect", "run_id": "manual",
                         "task_id": "detect_anomalies", "try_number": 1})()
    with pytest.raises(AirflowFailException, match="before Schedule.StartDate"):
        op.execute({"ti": ti})           # no retry: the same interval would fail again
