"""DAG integrity: the shipped DAG file imports cleanly, builds both DAGs per definition,
every task has retries and an owner, and parsing is quick and touches no storage."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from l4m.compat import dag_bag

REPO = Path(__file__).resolve().parent.parent
DAGS = REPO / "dags"
DAG_FILE = DAGS / "l4m_detectors.py"


@pytest.fixture()
def dagbag(monkeypatch):
    monkeypatch.delenv("L4M_DETECTORS_DIR", raising=False)
    return dag_bag(str(DAGS))


def test_no_import_errors_and_both_dags(dagbag):
    assert dagbag.import_errors == {}
    assert {"l4m_ecommerce_setup", "l4m_ecommerce_detect"} <= set(dagbag.dag_ids)


def test_every_task_has_retries_and_an_owner(dagbag):
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"
            assert task.owner not in ("", "airflow"), f"{dag.dag_id}.{task.task_id} owner"


def test_detect_dag_runs_in_order_every_interval(dagbag):
    dag = dagbag.dags["l4m_ecommerce_detect"]
    assert dag.max_active_runs == 1
    from l4m.compat import DeltaDataIntervalTimetable

    assert dag.timetable == DeltaDataIntervalTimetable(dt.timedelta(hours=1))
    detect = dag.get_task("detect_anomalies")
    assert detect.depends_on_past
    assert next(o.uri for o in detect.outlets).endswith("/anomalyResults")
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") \
        else list(dag.task_dict)
    assert order.index("wait_for_interval_data") < order.index("detect_anomalies")


def test_one_pair_of_dags_per_definition(monkeypatch, tmp_path):
    _definitions(tmp_path, shop_a="shop_a", shop_b="shop_b")
    monkeypatch.setenv("L4M_DETECTORS_DIR", str(tmp_path))
    bag = dag_bag(str(DAG_FILE))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["l4m_shop_a_detect", "l4m_shop_a_setup",
                                   "l4m_shop_b_detect", "l4m_shop_b_setup"]


def _definitions(folder: Path, **names_by_file) -> None:
    """Write the tutorial definition under each file name, with the given detector name."""
    for stem, name in names_by_file.items():
        doc = json.loads((DAGS / "detectors" / "ecommerce.json").read_text())
        doc["AnomalyDetectorName"] = name
        (folder / f"{stem}.json").write_text(json.dumps(doc))


def _import_errors_by_file(bag) -> dict[str, str]:
    return {Path(path).name: str(error) for path, error in bag.import_errors.items()}


def test_bad_definition_is_an_import_error_and_the_others_keep_their_dags(monkeypatch,
                                                                         tmp_path):
    _definitions(tmp_path, good="shop_a", bad="shop_b")
    doc = json.loads((tmp_path / "bad.json").read_text())
    doc["MetricSet"]["Offset"] = -1
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe{")
    (tmp_path / "cut.json").write_text('{"AnomalyDetectorName": ')
    doc["AnomalyDetectorName"] = "no_source"
    doc["MetricSet"]["Offset"] = 0
    del doc["MetricSet"]["MetricSource"]
    (tmp_path / "no_source.json").write_text(json.dumps(doc))
    monkeypatch.setenv("L4M_DETECTORS_DIR", str(tmp_path))
    bag = dag_bag(str(DAGS))
    assert sorted(bag.dag_ids) == ["l4m_shop_a_detect", "l4m_shop_a_setup"]
    errors = _import_errors_by_file(bag)
    assert list(errors) == ["l4m_definition_errors.py"]
    lines = errors["l4m_definition_errors.py"].strip().splitlines()[-5:]
    assert lines[0].endswith("4 detector definition(s) got no DAGs:")
    assert f"{tmp_path / 'bad.json'}: MetricSet.Offset: must be between 0" in lines[1]
    assert lines[2].startswith(f"{tmp_path / 'binary.json'}: not UTF-8 text")
    assert lines[3] == f"{tmp_path / 'cut.json'}: invalid JSON at line 1, column 25: " \
                       "Expecting value"                   # the path is named once
    assert lines[4].startswith(f"{tmp_path / 'no_source.json'}: MetricSet.MetricSource."
                               "S3SourceConfig.TemplatedPathList: required for the DAGs")


def test_definitions_naming_one_detector_get_no_dags_and_an_error_each(
        monkeypatch, tmp_path):
    _definitions(tmp_path, first="shop", second="shop", third="shop_c")
    monkeypatch.setenv("L4M_DETECTORS_DIR", str(tmp_path))
    bag = dag_bag(str(DAGS))
    assert sorted(bag.dag_ids) == ["l4m_shop_c_detect", "l4m_shop_c_setup"]
    [error] = _import_errors_by_file(bag).values()
    assert "2 detector definition(s) got no DAGs" in error      # one line per file
    assert f"{tmp_path / 'first.json'}: AnomalyDetectorName: 'shop' is also the name in " \
           f"{tmp_path / 'second.json'}; give each detector its own name" in error
    assert f"{tmp_path / 'second.json'}: AnomalyDetectorName: 'shop' is also the name in " \
           f"{tmp_path / 'first.json'}" in error


def test_results_outside_ascii_still_give_both_dags(monkeypatch, tmp_path):
    """Airflow 2 takes only ASCII Dataset URIs: the results Asset is percent-encoded there."""
    from urllib.parse import unquote

    results = tmp_path / "résultats"
    doc = json.loads((DAGS / "detectors" / "ecommerce.json").read_text())
    doc["Storage"] = {"ResultsPath": f"file://{results}"}
    (tmp_path / "shop.json").write_text(json.dumps(doc))
    monkeypatch.setenv("L4M_DETECTORS_DIR", str(tmp_path))
    bag = dag_bag(str(DAGS))
    assert bag.import_errors == {}
    [outlet] = bag.dags["l4m_ecommerce_detect"].get_task("detect_anomalies").outlets
    assert unquote(outlet.uri).endswith(f"{results}/anomalyResults")


def test_a_results_path_airflow_refuses_gets_no_dags_and_an_import_error(monkeypatch,
                                                                          tmp_path):
    from l4m import dag_factory

    _definitions(tmp_path, good="shop_a", odd="shop_b")
    doc = json.loads((tmp_path / "odd.json").read_text())
    doc["Storage"] = {"ResultsPath": f"file://{tmp_path}/refused"}
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    real = dag_factory.Asset

    def strict_asset(uri):
        if "refused" in uri:
            raise ValueError("not a URI this Airflow takes")
        return real(uri)

    monkeypatch.setattr(dag_factory, "Asset", strict_asset)
    monkeypatch.setenv("L4M_DETECTORS_DIR", str(tmp_path))
    bag = dag_bag(str(DAGS))
    assert sorted(bag.dag_ids) == ["l4m_shop_a_detect", "l4m_shop_a_setup"]
    [error] = _import_errors_by_file(bag).values()
    assert f"{tmp_path / 'odd.json'}: Storage.ResultsPath: Airflow refuses " in error
    assert "not a URI this Airflow takes" in error


PARSE_PROBE = textwrap.dedent("""
    import json, os, sys, time
    import airflow
    from l4m.compat import dag_bag
    events = []
    def audit(event, args):
        if event == "open" and isinstance(args[0], str) and not args[0].endswith(
                (".py", ".pyc", ".so", ".pth")) and "site-packages" not in args[0] \\
                and "/lib/python3" not in args[0]:
            events.append(("open", args[0]))
        elif event in ("socket.connect", "sqlite3.connect", "subprocess.Popen"):
            events.append((event, str(args[:2])))
    dag_bag(sys.argv[1])         # warm: first parse imports the l4m modules
    sys.addaudithook(audit)
    t0 = time.perf_counter()
    bag = dag_bag(sys.argv[1])
    took = time.perf_counter() - t0
    print(json.dumps({"seconds": took, "events": events, "errors": list(bag.import_errors)}))
""")


def test_parse_is_quick_and_touches_only_definitions(tmp_path):
    detectors = tmp_path / "detectors"
    shutil.copytree(DAGS / "detectors", detectors)
    env = {**__import__("os").environ, "L4M_DETECTORS_DIR": str(detectors)}
    done = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(DAGS)], env=env,
                          capture_output=True, text=True, check=True)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    touched = {path for kind, path in report["events"] if kind == "open"}
    others = {e for e in report["events"] if e[0] != "open"}
    # Airflow's folder walk opens every file of the DAG folder (a zip file may hold DAGs).
    allowed = {str(p) for p in DAGS.rglob("*") if p.is_file()} | {str(detectors)} \
        | {str(p) for p in detectors.glob("*.json")}
    assert not others, f"network, database or process calls at parse time: {others}"
    assert touched <= allowed | {str(DAGS), str(DAGS / ".airflowignore")}, touched - allowed
    print(f"DAG folder parse: {report['seconds'] * 1000:.0f} ms")
    assert report["seconds"] < 1.0
