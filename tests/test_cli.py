"""The ``l4m`` command's contract: outputs, accuracy floors, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from l4m.cli import main
from l4m.evaluation import flagged_points, score_events

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("L4M_SHARED_DIR", REPO.parent / "shared"))
SHARED_DATA = SHARED / "benchmarks" / "ecommerce_labeled.csv.gz"
TUTORIAL = {
    "AnomalyDetectorName": "ecommerce",
    "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
    "MetricSet": {
        "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"},
                       {"MetricName": "revenue", "AggregationFunction": "SUM"}],
        "DimensionList": ["platform", "marketplace"],
        "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
        "Timezone": "UTC"},
}
DIMS = ["platform", "marketplace"]


@pytest.fixture(scope="module")
def tutorial_spec(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "ecommerce.json"
    path.write_text(json.dumps(TUTORIAL))
    return path


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    assert main(["synth", "--out", str(out), "--days", "21", "--seed", "3"]) == 0
    return out / "ecommerce"


def accuracy(out: Path, truth: pd.DataFrame, start, sensitivity=50) -> dict:
    return {m: score_events(truth, flagged_points(out, m, DIMS, sensitivity), DIMS,
                            f"{m}_label", start=start) for m in ("views", "revenue")}


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_backtest_writes_the_seed_layout(synth_data, tmp_path, tutorial_spec):
    out = tmp_path / "bt"
    scores = tmp_path / "scores.csv"
    code = main(["backtest", "--spec", str(tutorial_spec), "--input",
                 str(synth_data / "backtest" / "input.csv"), "--out", str(out),
                 "--scores-out", str(scores)])
    assert code == 0
    files = sorted((out / "anomalyResults" / "metricValueAnomalyScore").glob("*.csv"))
    assert files and all(f.name.endswith("_metricValueAnomalyScore.csv") for f in files)
    head = files[0].read_text().splitlines()[0]
    assert head == ("key,Timestamp,platform,marketplace,viewsAnomalyMetricValue,viewsGroupScore,"
                    "revenueAnomalyMetricValue,revenueGroupScore")
    contrib = sorted((out / "anomalyResults" / "dimensionContributions").glob("*.csv"))
    table = pd.concat(pd.read_csv(f) for f in contrib)
    assert list(table.columns) == ["Timestamp", "metricName", "dimensionName", "dimensionValue",
                                   "valueContribution"]
    sums = table.groupby(["Timestamp", "metricName", "dimensionName"]).valueContribution.sum()
    assert ((sums - 100).abs() < 0.1).all()
    groups = [json.loads(line) for line in (out / "anomalyGroups.jsonl").read_text().splitlines()]
    assert groups and {"AnomalyGroup", "InterMetricImpactList", "AnomalyGroupTimeSeries"} <= set(groups[0])
    all_scores = pd.read_csv(scores)
    assert list(all_scores.columns) == ["timestamp", "metric", "platform", "marketplace", "value",
                                        "expected", "lower", "upper", "severity"]
    assert len(all_scores) == 42 * summary(out)["intervals_detected"] - all_scores.value.isna().sum()


def test_scores_file_agrees_with_the_anomaly_files(synth_data, tmp_path, tutorial_spec):
    """Each anomalous point's row in --scores-out has its timestamp, value and severity."""
    out, scores = tmp_path / "bt", tmp_path / "scores.csv"
    assert main(["replay", "--spec", str(tutorial_spec), "--input",
                 str(synth_data / "backtest" / "input.csv"), "--out", str(out),
                 "--scores-out", str(scores)]) == 0
    table = pd.read_csv(scores, dtype={d: str for d in DIMS})
    assert table.timestamp.is_monotonic_increasing
    anomalies = pd.concat(pd.read_csv(f, dtype={d: str for d in DIMS}) for f in
                          (out / "anomalyResults" / "metricValueAnomalyScore").glob("*.csv"))
    checked = 0
    for measure in ("views", "revenue"):
        flagged = anomalies.dropna(subset=[f"{measure}GroupScore"])
        joined = flagged.merge(table[table.metric == measure], how="left",
                               left_on=["Timestamp", *DIMS], right_on=["timestamp", *DIMS])
        assert len(joined) == len(flagged)
        assert (joined.severity - joined[f"{measure}GroupScore"]).abs().max() < 1e-6
        assert ((joined.value - joined[f"{measure}AnomalyMetricValue"]).abs()
                <= 1e-9 * joined.value.abs().clip(lower=1)).all()
        checked += len(joined)
    assert checked > 10


def test_rerun_gives_identical_files(synth_data, tmp_path, tutorial_spec):
    args = ["backtest", "--spec", str(tutorial_spec), "--input",
            str(synth_data / "backtest" / "input.csv")]
    main([*args, "--out", str(tmp_path / "a")])
    main([*args, "--out", str(tmp_path / "b")])
    main([*args, "--out", str(tmp_path / "b")])
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        if rel.name != "summary.json":
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_replay_of_interval_files_equals_replay_of_one_file(synth_data, tmp_path, tutorial_spec):
    base = ["replay", "--spec", str(tutorial_spec), "--out"]
    assert main([*base, str(tmp_path / "one"), "--input",
                 str(synth_data / "backtest" / "input.csv")]) == 0
    assert main([*base, str(tmp_path / "many"), "--input", str(synth_data / "live")]) == 0
    one = sorted((tmp_path / "one" / "anomalyResults").rglob("*.csv"))
    many = sorted((tmp_path / "many" / "anomalyResults").rglob("*.csv"))
    assert [p.name for p in one] == [p.name for p in many] and one
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, many))


@pytest.mark.parametrize("args, message", [
    (["--spec", "missing.json"], "missing.json"),
    (["--input", "nowhere.csv"], "nowhere.csv"),
    (["--sensitivity", "120"], "sensitivity"),
])
def test_bad_spec_or_input_exits_2_with_one_line(args, message, tmp_path, tutorial_spec,
                                                  synth_data):
    argv = {"--spec": str(tutorial_spec), "--input": str(synth_data / "backtest" / "input.csv"),
            "--out": str(tmp_path / "o")}
    argv.update(dict(zip(args[::2], args[1::2])))
    cmd = [sys.executable, "-m", "l4m.cli", "backtest"] + [x for kv in argv.items() for x in kv]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_invalid_definition_exits_2_naming_the_field(tmp_path, synth_data):
    bad = json.loads(json.dumps(TUTORIAL))
    bad["MetricSet"]["MetricList"][0]["AggregationFunction"] = "MAX"
    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps(bad))
    done = subprocess.run(
        [sys.executable, "-m", "l4m.cli", "replay", "--spec", str(spec), "--input",
         str(synth_data / "backtest" / "input.csv"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "MetricSet.MetricList[0].AggregationFunction" in done.stderr


def test_broken_rows_are_quarantined_not_fatal(tmp_path, tutorial_spec, synth_data):
    rows = (synth_data / "backtest" / "input.csv").read_text().splitlines()
    rows[5] = "pc_web,us,not-a-time,1,2"
    rows[9] = rows[9].rsplit(",", 2)[0] + ",abc,xyz"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(rows) + "\n")
    out = tmp_path / "o"
    assert main(["backtest", "--spec", str(tutorial_spec), "--input", str(broken),
                 "--out", str(out)]) == 0
    report = pd.read_csv(out / "quarantine.csv")
    assert set(zip(report.row, report.field)) == {(6, "timestamp"), (10, "views"), (10, "revenue")}
    assert summary(out)["rows_invalid"] == 2


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared benchmark data not beside the repo")
def test_shared_ecommerce_accuracy_floor(tmp_path, tutorial_spec):
    truth = pd.read_csv(SHARED_DATA, dtype={d: str for d in DIMS})
    truth["timestamp"] = pd.to_datetime(truth["timestamp"])
    hours = sorted(truth["timestamp"].unique())

    bt = tmp_path / "backtest"
    assert main(["backtest", "--spec", str(tutorial_spec), "--input", str(SHARED_DATA),
                 "--out", str(bt)]) == 0
    for measure, s in accuracy(bt, truth, hours[int(len(hours) * 0.7)]).items():
        assert s.f1 >= 0.98, (measure, s)

    rp = tmp_path / "replay"
    assert main(["replay", "--spec", str(tutorial_spec), "--input", str(SHARED_DATA),
                 "--out", str(rp)]) == 0
    start = pd.Timestamp(summary(rp)["detection_start"])
    for measure, s in accuracy(rp, truth, start).items():
        assert s.f1 >= 0.95, (measure, s)


def test_summary_says_when_nothing_was_scored(tmp_path):
    from l4m.runner import RunSummary

    cold = str(RunSummary("backtest", tmp_path, intervals_learned=13, intervals_detected=6))
    assert "detected 6 (none scored: every metric still in its cold start)" in cold
    warm = str(RunSummary("backtest", tmp_path, intervals_detected=6,
                          detection_start="2021-01-01 00:00:00"))
    assert "detected 6 from 2021-01-01 00:00:00" in warm


def test_rerun_into_the_same_folder_replaces_the_earlier_results(synth_data, tmp_path,
                                                                   tutorial_spec):
    """A rerun leaves exactly what a run into an empty folder writes: no file of the
    earlier run (here: anomalies below the new sensitivity) survives, and it says so."""
    args = ["backtest", "--spec", str(tutorial_spec), "--input",
            str(synth_data / "backtest" / "input.csv")]
    assert main([*args, "--out", str(tmp_path / "again")]) == 0
    assert main([*args, "--out", str(tmp_path / "again"), "--sensitivity", "90"]) == 0
    assert main([*args, "--out", str(tmp_path / "fresh"), "--sensitivity", "90"]) == 0

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and p.name != "summary.json"}
    assert files(tmp_path / "again") == files(tmp_path / "fresh")
    assert summary(tmp_path / "again")["replaced_files"] > 0
    assert summary(tmp_path / "fresh")["replaced_files"] == 0


def test_a_folder_of_other_results_is_refused_and_left_alone(synth_data, tmp_path,
                                                             tutorial_spec, capsys):
    foreign = tmp_path / "pipeline" / "intervals" / "20210115_000000_interval.json"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("{}")
    code = main(["replay", "--spec", str(tutorial_spec), "--input",
                 str(synth_data / "backtest" / "input.csv"), "--out", str(tmp_path / "pipeline")])
    assert code == 2
    assert "no l4m backtest or replay wrote there" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "pipeline").rglob("*")] == ["intervals", foreign.name]


def _files(root: Path) -> dict:
    return {p.relative_to(root): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.name != "summary.json"}


def test_scores_written_in_chunks_are_the_same_bytes(synth_data, tmp_path, tutorial_spec,
                                                     monkeypatch):
    from l4m.io.results import ScoresWriter

    args = ["replay", "--spec", str(tutorial_spec), "--input",
            str(synth_data / "backtest" / "input.csv")]
    assert main([*args, "--out", str(tmp_path / "one"),
                 "--scores-out", str(tmp_path / "one.csv")]) == 0
    monkeypatch.setattr(ScoresWriter, "chunk_points", 100)   # ~1 interval per chunk
    assert main([*args, "--out", str(tmp_path / "many"),
                 "--scores-out", str(tmp_path / "many.csv")]) == 0
    assert (tmp_path / "many.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_an_interrupted_run_is_marked_running_and_a_rerun_completes_it(
        synth_data, tmp_path, tutorial_spec, monkeypatch):
    """Results are written as they come: an interrupted run leaves them under a
    ``RUNNING`` summary, keeps the earlier scores file, and a rerun finishes the job."""
    from l4m.engine import Detector

    args = ["backtest", "--spec", str(tutorial_spec), "--input",
            str(synth_data / "backtest" / "input.csv")]
    out, scores = tmp_path / "run", tmp_path / "scores.csv"
    assert main([*args, "--out", str(tmp_path / "fresh")]) == 0
    scores.write_text("earlier\n")
    real = Detector.detect_each

    def interrupted(self, *a, **k):
        for i, result in enumerate(real(self, *a, **k)):
            if i == 40:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(Detector, "detect_each", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main([*args, "--out", str(out), "--scores-out", str(scores)])
    assert summary(out)["status"] == "RUNNING" and summary(out)["mode"] == "backtest"
    assert len(list((out / "intervals").glob("*_interval.json"))) == 40
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["scores.csv"]
    assert scores.read_text() == "earlier\n"
    monkeypatch.setattr(Detector, "detect_each", real)
    assert main([*args, "--out", str(out)]) == 0
    assert summary(out)["status"] == "COMPLETE"
    assert _files(out) == _files(tmp_path / "fresh")


def test_scores_file_of_a_run_still_in_its_cold_start_is_the_header(synth_data, tmp_path,
                                                                    tutorial_spec):
    records = pd.read_csv(synth_data / "backtest" / "input.csv", dtype=str)
    short = tmp_path / "three_days.csv"
    stamps = pd.to_datetime(records.timestamp)
    records[stamps < stamps.min() + pd.Timedelta(days=3)].to_csv(short, index=False)
    scores = tmp_path / "scores.csv"
    assert main(["replay", "--spec", str(tutorial_spec), "--input", str(short),
                 "--out", str(tmp_path / "out"), "--scores-out", str(scores)]) == 0
    assert summary(tmp_path / "out")["detection_start"] is None
    assert scores.read_text() == \
        "timestamp,metric,platform,marketplace,value,expected,lower,upper,severity\n"
