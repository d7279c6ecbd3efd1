"""The main job on the embedded default: the real Airflow pipeline on tutorial data.

1. generate the tutorial data (``l4m synth``) under ``OUT/data``;
2. write a detector definition whose history ends where the demo's live window
   starts, with results, state, catalog and dashboard under ``OUT``;
3. in a private Airflow home (``OUT/airflow``, SQLite), run ``l4m_ecommerce_setup``
   once and ``l4m_ecommerce_detect`` for every hour of the live window, each through
   Airflow's own runner (``dag.test()``), from the DAGs in ``dags/``;
4. score the anomalies written by the detect runs against the labels.

Airflow reads ``AIRFLOW_HOME`` when it is first imported, so :func:`run_demo` sets the
environment and runs the DAGs in a child process (``python -m l4m.demo``).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

DEMO_SENSITIVITY = 50
DETECTOR = "ecommerce"


def demo_definition(data_def: Path, out: Path, live_start: dt.datetime) -> dict:
    """The synth definition plus where the pipeline keeps and publishes its results."""
    doc = json.loads(data_def.read_text())
    doc["Storage"] = {"ResultsPath": f"file://{out}/results", "StatePath": f"file://{out}/state"}
    doc["Schedule"] = {"StartDate": live_start.strftime("%Y-%m-%dT%H:%M:%SZ"), "Catchup": True}
    doc["Publish"] = {"Local": {"CatalogPath": f"file://{out}/catalog.duckdb",
                                "DashboardPath": f"file://{out}/dashboard.html"}}
    return doc


def run_demo(out: Path, *, days: int = 21, hours: int = 48, patterns: str = "easy",
             seed: int = 0) -> str:
    """Prepare the data and the Airflow home, run the DAGs, return the summary text."""
    from .synth import write_dataset

    out = Path(out).resolve()
    paths = write_dataset(out / "data", seed=seed, days=days, patterns=patterns)
    first_day = dt.datetime(2021, 1, 1, tzinfo=dt.timezone.utc)   # synth's default start
    live_start = first_day + dt.timedelta(days=days) - dt.timedelta(hours=hours)
    detectors = out / "detectors"
    detectors.mkdir(parents=True, exist_ok=True)
    definition = demo_definition(paths.definition, out, live_start)
    (detectors / f"{DETECTOR}.json").write_text(json.dumps(definition, indent=1))
    env = airflow_env(out)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    log = out / "airflow" / "dag-runs.log"
    with log.open("w") as sink:
        done = subprocess.run([sys.executable, "-m", "l4m.demo", str(out),
                               live_start.isoformat(), str(hours)],
                              env=env, stdout=sink, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise RuntimeError(f"the DAG runs failed (log: {log}):\n{tail}")
    return summarise(out, paths.labels, live_start, hours) + f"\nAirflow task logs: {log}"


def airflow_env(out: Path) -> dict:
    """Environment of the demo's private Airflow home (SQLite) under ``out``."""
    from importlib.metadata import version

    env = dict(os.environ, AIRFLOW_HOME=str(out / "airflow"),
               L4M_DETECTORS_DIR=str(out / "detectors"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(dags_folder()))
    if int(version("apache-airflow").split(".")[0]) < 3:
        env["AIRFLOW__CORE__EXECUTOR"] = "SequentialExecutor"   # Airflow 2: the one for SQLite
    return env


def dags_folder() -> Path:
    """The repository's ``dags/`` folder (the demo runs from a clone)."""
    return Path(__file__).resolve().parents[2] / "dags"


def run_dags(live_start: dt.datetime, hours: int) -> None:
    """Run the setup DAG once and the detect DAG for each hour (inside the Airflow home)."""
    from .compat import dag_bag, dag_test

    bag = dag_bag(str(dags_folder()))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    setup = bag.dags[f"l4m_{DETECTOR}_setup"]
    detect = bag.dags[f"l4m_{DETECTOR}_detect"]
    _check(dag_test(setup, live_start), setup.dag_id)
    for h in range(hours):
        # A manual run at T covers the interval that ends at T (infer_manual_data_interval).
        run_after = live_start + dt.timedelta(hours=h + 1)
        _check(dag_test(detect, run_after), f"{detect.dag_id} {run_after:%Y-%m-%d %H:%M}")


def _check(run, what: str) -> None:
    state = str(getattr(run, "state", "")).lower()
    if not state.endswith("success"):
        raise RuntimeError(f"{what}: DAG run ended {state}")


def summarise(out: Path, labels_file: Path, live_start: dt.datetime, hours: int) -> str:
    """Anomalies the detect runs wrote, scored against the labels of the live window."""
    import pandas as pd

    from .evaluation import flagged_points, score_events
    from .spec import parse_spec_json

    spec = parse_spec_json((out / "detectors" / f"{DETECTOR}.json").read_text())
    spec_dims = list(spec.dimensions)
    labels = pd.read_csv(labels_file, dtype={d: str for d in spec_dims})
    labels["timestamp"] = pd.to_datetime(labels["timestamp"])
    start = pd.Timestamp(live_start).tz_localize(None)
    end = start + pd.Timedelta(hours=hours)
    labels = labels[labels["timestamp"] < end]
    lines = [(f"ran l4m_{DETECTOR}_setup once and l4m_{DETECTOR}_detect for {hours} hourly "
              f"intervals from {start} (UTC)"),
             f"accuracy at sensitivity {DEMO_SENSITIVITY} against {labels_file}:"]
    for m in spec.measure_names:
        hit = flagged_points(out / "results", m, spec_dims, DEMO_SENSITIVITY)
        s = score_events(labels, hit, spec_dims, f"{m}_label", start=start)
        lines.append(f"  {m}: anomalous points={len(hit)} events={s.events} found={s.found} "
                     f"false_runs={s.false_runs} F1={s.f1:.3f}")
    lines += [f"results:   {out / 'results'} (seed S3 layout)",
              (f"catalog:   {out / 'catalog.duckdb'} (DuckDB: live, metricvalueanomalyscore, "
               "dimensioncontributions + dataset views)"),
              f"dashboard: {out / 'dashboard.html'}"]
    return "\n".join(lines)


if __name__ == "__main__":
    run_dags(dt.datetime.fromisoformat(sys.argv[2]), int(sys.argv[3]))
