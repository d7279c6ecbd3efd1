"""Build the two DAGs of every detector definition in a folder.

``l4m_<name>_setup`` (manual): create the detector, optionally back-test it, activate
it, then a first catalog refresh and dashboard.

``l4m_<name>_detect`` (every interval of the detector): make sure the detector exists
and is active, wait for the interval's data, detect, send alerts, confirm the results
arrived, refresh the catalog and the dashboard. Runs go one at a time and in order
(``max_active_runs=1``, ``depends_on_past`` on detection), so catch-up and backfill
process intervals oldest first.

Parsing reads only the definition files of the folder: no storage, network or
database access, no heavy imports (operators import their libraries in ``execute``).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from l4m.compat import DAG, Asset, DeltaDataIntervalTimetable, Param, TriggerRule
from l4m.locations import resolve
from l4m.operators.alerts import SendAlertsOperator
from l4m.operators.catalog import LocalCatalogOperator
from l4m.operators.dashboard import LocalDashboardOperator
from l4m.operators.detector import (
    ActivateDetectorOperator,
    BackTestDetectorOperator,
    CreateDetectorOperator,
    DetectAnomaliesOperator,
)
from l4m.sensors.storage import AnomalyResultsSensor, DetectorStatusSensor, IntervalDataSensor
from l4m.spec import DetectorSpec, parse_spec_json

DETECTORS_ENV = "L4M_DETECTORS_DIR"
DEFAULT_START = dt.datetime(2025, 10, 1, tzinfo=dt.timezone.utc)  # catch-up is off by default
DEFAULT_ARGS = {"owner": "l4m", "retries": 2, "retry_delay": dt.timedelta(minutes=1)}


def definition_files(folder: str | os.PathLike) -> list[Path]:
    """The ``*.json`` definition files of ``folder``, sorted (none if it does not exist)."""
    path = Path(folder)
    return sorted(p for p in path.glob("*.json") if p.is_file()) if path.is_dir() else []


def results_asset(spec: DetectorSpec) -> Asset:
    """The Asset (Dataset on Airflow 2) updated whenever an interval's results are written."""
    return Asset(f"{resolve(spec).results}/anomalyResults")


def setup_dag(spec: DetectorSpec, definition: str) -> DAG:
    """``l4m_<name>_setup``: create, (back-test), activate, first catalog and dashboard."""
    with DAG(
        dag_id=f"l4m_{spec.name}_setup",
        description=f"Create and activate the L4M detector {spec.name}",
        schedule=None,
        start_date=spec.pipeline.start_date or DEFAULT_START,
        catchup=False,
        default_args=DEFAULT_ARGS,
        params={"backtest": Param(False, type="boolean",
                                  description="back-test on the history before activating")},
        tags=["l4m", spec.name],
    ) as dag:
        common = {"definition": definition}
        create = CreateDetectorOperator(task_id="create_detector", **common)
        backtest = BackTestDetectorOperator(task_id="backtest_detector",
                                            enabled="{{ params.backtest }}", **common)
        activate = ActivateDetectorOperator(task_id="activate_detector",
                                            trigger_rule=TriggerRule.NONE_FAILED, **common)
        active = DetectorStatusSensor(task_id="wait_until_active", poke_interval=5,
                                      target_statuses=("ACTIVE", "LEARNING"), **common)
        catalog = LocalCatalogOperator(task_id="refresh_catalog", **common)
        dashboard = LocalDashboardOperator(task_id="render_dashboard", **common)
        create >> backtest >> activate >> active >> catalog >> dashboard
    return dag


def detect_dag(spec: DetectorSpec, definition: str) -> DAG:
    """``l4m_<name>_detect``: the scheduled pipeline, one run per interval."""
    interval = dt.timedelta(seconds=spec.interval_seconds)
    with DAG(
        dag_id=f"l4m_{spec.name}_detect",
        description=f"Detect anomalies with the L4M detector {spec.name} every {spec.frequency}",
        schedule=DeltaDataIntervalTimetable(interval),
        start_date=spec.pipeline.start_date or DEFAULT_START,
        catchup=spec.pipeline.catchup,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["l4m", spec.name],
    ) as dag:
        common = {"definition": definition}
        ensure = ActivateDetectorOperator(task_id="ensure_detector_active",
                                          create_if_missing=True, **common)
        data = IntervalDataSensor(task_id="wait_for_interval_data", mode="reschedule",
                                  poke_interval=min(60, spec.interval_seconds), **common)
        detect = DetectAnomaliesOperator(task_id="detect_anomalies", depends_on_past=True,
                                         outlets=[results_asset(spec)], **common)
        alerts = SendAlertsOperator(task_id="send_alerts", **common)
        arrived = AnomalyResultsSensor(task_id="wait_for_anomaly_results", poke_interval=5,
                                       **common)
        catalog = LocalCatalogOperator(task_id="refresh_catalog", **common)
        dashboard = LocalDashboardOperator(task_id="render_dashboard", **common)
        ensure >> data >> detect >> [alerts, arrived]
        arrived >> catalog >> dashboard
    return dag


def build_dags(default_folder: str | os.PathLike) -> dict[str, DAG]:
    """Both DAGs of every definition in ``$L4M_DETECTORS_DIR``, else ``default_folder``."""
    folder = os.environ.get(DETECTORS_ENV) or default_folder
    dags: dict[str, DAG] = {}
    for path in definition_files(folder):
        spec = parse_spec_json(path.read_text(encoding="utf-8"), source=str(path))
        for dag in (setup_dag(spec, str(path)), detect_dag(spec, str(path))):
            dags[dag.dag_id] = dag
    return dags
