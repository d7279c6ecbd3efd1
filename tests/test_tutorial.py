"""``l4m tutorial``: data and a definition around now, for a live Airflow."""
from __future__ import annotations

import datetime as dt
import json

from l4m.cli import main
from l4m.spec import parse_spec_json
from l4m.tutorial import write_tutorial

NOW = dt.datetime(2026, 3, 29, 14, 37, tzinfo=dt.timezone.utc)


def test_definition_catches_up_the_last_hours_and_data_covers_the_week_ahead(tmp_path):
    path, written = write_tutorial(tmp_path, now=NOW, catchup_hours=3, live_days=2)
    assert written and path == tmp_path / "detectors" / "ecommerce.json"
    spec = parse_spec_json(path.read_text(), source=str(path))
    assert spec.pipeline.start_date == dt.datetime(2026, 3, 29, 11, tzinfo=dt.timezone.utc)
    assert spec.pipeline.catchup is True
    assert spec.alerts == ()                     # nothing leaves the machine
    doc = json.loads(path.read_text())
    assert doc["Storage"]["ResultsPath"] == f"file://{tmp_path}/results"
    live = tmp_path / "ecommerce" / "live"
    for hour in ("20260329/1100", "20260329/1300", "20260331/2300"):   # caught up, now, ahead
        assert any((live / hour).iterdir()), hour
    history = (tmp_path / "ecommerce" / "backtest" / "input.csv").read_text().splitlines()
    assert ",2026-03-08 00:00:00," in history[1]   # three weeks to learn from


def test_running_again_keeps_the_existing_data_and_results(tmp_path, capsys):
    first, _ = write_tutorial(tmp_path, now=NOW)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "kept.json").write_text("{}")
    assert main(["tutorial", "--data", str(tmp_path)]) == 0
    assert "kept the existing tutorial detector" in capsys.readouterr().out
    assert (tmp_path / "results" / "kept.json").exists()
    assert json.loads(first.read_text())["Schedule"]["StartDate"] == "2026-03-29T11:00:00Z"


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["tutorial", "--data", str(tmp_path), "--live-days", "0"]) == 2
    assert "live_days" in capsys.readouterr().err
    assert not (tmp_path / "detectors").exists()
