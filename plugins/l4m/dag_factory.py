"""Build the two DAGs of every detector definition in a folder.

``l4m_<name>_setup`` (manual): create the detector, optionally back-test it, activate
it, then publish: the local catalog and dashboard, or with ``Publish.Glue`` the Glue
crawler, the Athena views and (with ``Publish.QuickSight``) the QuickSight dashboard.

``l4m_<name>_detect`` (every interval of the detector): make sure the detector exists
and is active, wait for the interval's data, detect, send alerts, confirm the results
arrived, publish. On AWS the crawl (and a SPICE refresh) runs only when the interval
brought data or anomalies, and views and QuickSight resources are republished only
when the definition changed. Runs go one at a time and in order
(``max_active_runs=1``, ``depends_on_past`` on detection), so catch-up and backfill
process intervals oldest first.

Parsing reads only the definition files of the folder: no storage, network or
database access, no heavy imports (operators import their libraries in ``execute``).

A definition that cannot be used (invalid, unreadable, with a results path Airflow
refuses as an Asset URI, or naming the same detector as another file) gets no DAGs, and the other detectors keep theirs: one DAG file cannot
report an import error and still define DAGs, so :func:`build_dags` skips it and
:func:`raise_definition_errors`, called from a second DAG file, turns every such
problem into that file's import error (shown in the UI, failing DagBag checks).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from urllib.parse import quote

from l4m.compat import (
    AIRFLOW_V3,
    DAG,
    Asset,
    DeltaDataIntervalTimetable,
    Param,
    TriggerRule,
)
from l4m.definitions import definition_files, usable_definitions
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
from l4m.spec import DetectorSpec

DETECTORS_ENV = "L4M_DETECTORS_DIR"
DEFAULT_START = dt.datetime(2025, 10, 1, tzinfo=dt.timezone.utc)  # catch-up is off by default
DEFAULT_ARGS = {"owner": "l4m", "retries": 2, "retry_delay": dt.timedelta(minutes=1)}

log = logging.getLogger(__name__)


class DefinitionErrors(ValueError):
    """Detector definitions that got no DAGs: one line per problem, naming the file."""


def results_asset(spec: DetectorSpec) -> Asset:
    """The Asset (Dataset on Airflow 2) updated whenever an interval's results are written.

    Airflow 2 takes only ASCII Dataset URIs: there, other characters are percent-encoded.
    """
    uri = f"{resolve(spec).results}/anomalyResults"
    if not AIRFLOW_V3:
        uri = "".join(c if c.isascii() else quote(c) for c in uri)
    return Asset(uri)


def _aws_args(spec: DetectorSpec, region: str | None = None) -> dict:
    """The amazon provider's AWS operator arguments from the definition's ``Aws`` section."""
    conn = spec.pipeline.aws.connection
    return {"aws_conn_id": conn.conn_id, "region_name": region or conn.region_name,
            "botocore_config": conn.botocore_config}


def publish_tasks(spec: DetectorSpec, definition: str, interval_start: str | None = None):
    """(first, last) task of publishing: local catalog + dashboard, or Glue/Athena/QuickSight.

    ``interval_start`` (the scheduled DAG) crawls only intervals with data or anomalies
    and republishes views and QuickSight only when the definition changed.
    """
    aws = spec.pipeline.aws
    if aws.glue is None:
        catalog = LocalCatalogOperator(task_id="refresh_catalog", definition=definition)
        dashboard = LocalDashboardOperator(task_id="render_dashboard", definition=definition)
        catalog >> dashboard
        return catalog, dashboard
    # The amazon provider is imported only for definitions that publish on AWS.
    from l4m.operators.aws import AthenaViewsOperator, GlueCrawlOperator, QuickSightPublishOperator

    scheduled = interval_start is not None
    crawl = GlueCrawlOperator(task_id="crawl_tables", definition=definition,
                              interval_start=interval_start, **_aws_args(spec))
    views = AthenaViewsOperator(task_id="publish_athena_views", definition=definition,
                                skip_if_published=scheduled, trigger_rule=TriggerRule.NONE_FAILED,
                                **_aws_args(spec))
    crawl >> views
    if aws.quicksight is None:
        return crawl, views
    quicksight = QuickSightPublishOperator(
        task_id="publish_quicksight", definition=definition, skip_if_published=scheduled,
        interval_start=interval_start, trigger_rule=TriggerRule.NONE_FAILED,
        **_aws_args(spec, aws.quicksight.region))
    views >> quicksight
    return crawl, quicksight


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
        common = {"definition": definition,
                  "aws_conn_id": spec.pipeline.aws.connection.conn_id}
        create = CreateDetectorOperator(task_id="create_detector", **common)
        backtest = BackTestDetectorOperator(task_id="backtest_detector",
                                            enabled="{{ params.backtest }}", **common)
        activate = ActivateDetectorOperator(task_id="activate_detector",
                                            trigger_rule=TriggerRule.NONE_FAILED, **common)
        active = DetectorStatusSensor(task_id="wait_until_active", poke_interval=5,
                                      target_statuses=("ACTIVE", "LEARNING"), **common)
        first, _ = publish_tasks(spec, definition)
        create >> backtest >> activate >> active >> first
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
        common = {"definition": definition,
                  "aws_conn_id": spec.pipeline.aws.connection.conn_id}
        ensure = ActivateDetectorOperator(task_id="ensure_detector_active",
                                          create_if_missing=True, **common)
        data = IntervalDataSensor(task_id="wait_for_interval_data", mode="reschedule",
                                  poke_interval=min(60, spec.interval_seconds), **common)
        detect = DetectAnomaliesOperator(task_id="detect_anomalies", depends_on_past=True,
                                         outlets=[results_asset(spec)], **common)
        alerts = SendAlertsOperator(task_id="send_alerts", **common)
        arrived = AnomalyResultsSensor(task_id="wait_for_anomaly_results", poke_interval=5,
                                       **common)
        first, _ = publish_tasks(spec, definition, interval_start="{{ data_interval_start }}")
        ensure >> data >> detect >> [alerts, arrived]
        arrived >> first
    return dag


def load_definitions(default_folder: str | os.PathLike) -> tuple[list, list[str]]:
    """([(path, spec)] of the usable definitions, [error line] of the others) in
    ``$L4M_DETECTORS_DIR``, else ``default_folder`` (see
    :func:`l4m.definitions.usable_definitions`; here also: Airflow must take the results
    path as an Asset URI)."""
    folder = os.environ.get(DETECTORS_ENV) or default_folder
    return usable_definitions(definition_files(folder), check=_asset_problem)


def _asset_problem(path: Path, spec: DetectorSpec) -> str | None:
    try:
        results_asset(spec)      # Airflow checks Asset URIs further than the definition
    except ValueError as exc:
        return (f"{path}: Storage.ResultsPath: Airflow refuses "
                f"{resolve(spec).results}/anomalyResults as an Asset URI: {exc}")
    return None


def build_dags(default_folder: str | os.PathLike) -> dict[str, DAG]:
    """Both DAGs of every usable definition (see :func:`load_definitions`); the others
    are logged here and reported by :func:`raise_definition_errors`."""
    definitions, errors = load_definitions(default_folder)
    for error in errors:
        log.error("l4m: no DAGs for %s", error)
    dags: dict[str, DAG] = {}
    for path, spec in definitions:
        for dag in (setup_dag(spec, str(path)), detect_dag(spec, str(path))):
            dags[dag.dag_id] = dag
    return dags


def raise_definition_errors(default_folder: str | os.PathLike) -> None:
    """Raise :class:`DefinitionErrors` naming every definition that got no DAGs."""
    _, errors = load_definitions(default_folder)
    if errors:
        raise DefinitionErrors(
            f"{len(errors)} detector definition(s) got no DAGs:\n" + "\n".join(errors))
