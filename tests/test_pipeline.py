"""End to end through Airflow's own runner (``dag.test()``): the demo pipeline's detect
runs write exactly what ``l4m replay`` writes, a rerun of an interval changes no file,
and the catalog and dashboard are published."""
from __future__ import annotations

import datetime as dt
import filecmp
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from l4m import runner
from l4m.demo import airflow_env, run_demo
from l4m.io.reader import read_records
from l4m.spec import parse_spec_json

HOURS = 6
DAYS = 16
LIVE_START = pd.Timestamp("2021-01-17T00:00:00Z") - pd.Timedelta(hours=HOURS)
KEPT = ("anomalyResults", "anomalyGroups", "intervals")

RERUN = textwrap.dedent("""
    import datetime as dt, sys
    from l4m.compat import AIRFLOW_V3, dag_bag
    if not AIRFLOW_V3:  # Airflow 2 clears the old run, whose notes refer to FAB's user table
        import airflow.providers.fab.auth_manager.models  # noqa: F401
    from l4m.compat import dag_test
    from l4m.demo import dags_folder
    dag = dag_bag(str(dags_folder())).dags["l4m_ecommerce_detect"]
    run = dag_test(dag, dt.datetime.fromisoformat(sys.argv[1]))
    sys.exit(0 if str(run.state).endswith("success") else 1)
""")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out, days=DAYS, hours=HOURS)
    return out, summary


def result_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.relative_to(root).parts[0] in KEPT)


def test_demo_reports_where_things_are(demo):
    out, summary = demo
    assert f"l4m_ecommerce_detect for {HOURS} hourly intervals" in summary
    for line in ("results:", "catalog:", "dashboard:", "views:", "revenue:"):
        assert line in summary
    assert (out / "catalog.duckdb").exists()
    assert "plotly" in (out / "dashboard.html").read_text()[:6_000_000].lower()
    assert len(list((out / "results" / "intervals").glob("*_interval.json"))) == HOURS


def test_detect_runs_equal_replay_byte_for_byte(demo, tmp_path):
    out, _ = demo
    spec = parse_spec_json((out / "detectors" / "ecommerce.json").read_text())
    data_root = out / "data" / "ecommerce"
    history = read_records([str(data_root / "backtest" / "input.csv")], spec)
    history.records = history.records[history.records["timestamp"] < LIVE_START]
    live = [str(p) for p in sorted((data_root / "live").rglob("*.csv"))
            if pd.Timestamp(p.stem.replace("_", "T"), tz="UTC") >= LIVE_START]
    runner.replay(spec, read_records(live, spec), tmp_path, history=history)
    ours = out / "results"
    assert result_files(ours) == result_files(tmp_path)
    assert any(f.startswith("anomalyResults") for f in result_files(ours))
    for name in result_files(ours):
        assert filecmp.cmp(ours / name, tmp_path / name, shallow=False), name


def test_rerunning_an_interval_changes_no_result_or_state_file(demo):
    out, _ = demo
    watched = [p for folder in ("results", "state") for p in (out / folder).rglob("*")
               if p.is_file() and p.name != ".lock"]   # the lock names its last holder
    before = {p: p.read_bytes() for p in watched}
    env = airflow_env(out)
    run_after = (LIVE_START + pd.Timedelta(hours=3)).to_pydatetime().astimezone(dt.timezone.utc)
    done = subprocess.run([sys.executable, "-c", RERUN, run_after.isoformat()], env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    after = {p for folder in ("results", "state") for p in (out / folder).rglob("*")
             if p.is_file() and p.name != ".lock"}
    assert after == set(before), "a rerun added or removed files"
    changed = [str(p) for p in before if p.read_bytes() != before[p]]
    assert changed == [], changed
    marker = json.loads(next((out / "results" / "intervals").glob("*_interval.json")).read_text())
    assert marker["Status"] == "DETECTED"
