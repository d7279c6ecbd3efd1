"""The AWS operators on their own (moto server on 127.0.0.1): the Glue crawl defers to
the amazon provider's trigger and checks the crawl's outcome, scheduled runs crawl only
intervals with data or anomalies, views are republished only when their SQL changed,
and a failed Athena query fails the task with Athena's reason."""
from __future__ import annotations

import json

import boto3
import pytest
from airflow.providers.amazon.aws.triggers.glue_crawler import GlueCrawlerCompleteTrigger
from aws_definitions import aws_definition
from fakes.moto_glue import crawls_succeed
from fakes.moto_server import connection, forget_object_stores, moto_endpoint, reset
from fakes.quicksight_server import QuickSightDouble
from l4m.compat import AirflowException, AirflowSkipException, TaskDeferred
from l4m.operators.aws import AthenaViewsOperator, GlueCrawlOperator, QuickSightPublishOperator

INTERVAL = "2021-01-16T21:00:00+00:00"
MARKER = "results/intervals/20210116_210000_interval.json"


@pytest.fixture(scope="module")
def endpoint():
    with moto_endpoint() as url:
        yield url


@pytest.fixture()
def aws(endpoint, tmp_path):
    s3 = boto3.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket="l4m")
    definition = tmp_path / "ecommerce.json"
    definition.write_text(json.dumps(aws_definition()))
    with crawls_succeed():
        yield s3, str(definition)
    reset(endpoint)


def marker(s3, scored: int, anomalies: int) -> None:
    s3.put_object(Bucket="l4m", Key=MARKER, Body=json.dumps({
        "IntervalStart": "2021-01-16T21:00:00Z", "MetricsScored": scored,
        "Anomalies": {"views": anomalies, "revenue": 0}}).encode())


def test_deferred_crawl_hands_the_wait_to_the_providers_trigger(aws):
    _, definition = aws
    op = GlueCrawlOperator(task_id="crawl", definition=definition, deferrable=True,
                           poll_interval=1)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, GlueCrawlerCompleteTrigger)
    assert trigger.serialize()[1]["crawler_name"] == "l4m-ecommerce-crawler"
    summary = deferred.value.kwargs["summary"]
    assert summary == {"Database": "created", "Crawler": "created", "Crawl": "started"}
    done = op.execute_complete({}, {"status": "success"}, **deferred.value.kwargs)
    assert done["CrawlStatus"] == "SUCCEEDED"
    with pytest.raises(AirflowException, match="l4m-ecommerce-crawler"):
        op.execute_complete({}, {"status": "failure"}, **deferred.value.kwargs)


def test_scheduled_crawl_runs_only_for_intervals_with_data_or_anomalies(aws):
    s3, definition = aws
    op = GlueCrawlOperator(task_id="crawl", definition=definition, interval_start=INTERVAL,
                           deferrable=False, poll_interval=1)
    with pytest.raises(AirflowException, match="not been detected"):
        op.execute({})
    marker(s3, scored=0, anomalies=0)            # a gap: no data, nothing new
    with pytest.raises(AirflowSkipException):
        op.execute({})
    marker(s3, scored=42, anomalies=0)           # data: a new live partition
    assert op.execute({})["CrawlStatus"] == "SUCCEEDED"


def test_views_are_republished_only_when_their_sql_changed(aws, tmp_path):
    _, definition = aws
    scheduled = AthenaViewsOperator(task_id="views", definition=definition,
                                    skip_if_published=True, sleep_time=0)
    first = scheduled.execute({})
    assert first["Views"] == ["l4m_live_data", "l4m_dimension_contributions"]
    assert len(first["QueryExecutionIds"]) == 4
    with pytest.raises(AirflowSkipException):
        scheduled.execute({})
    changed = aws_definition(measures=["views"])
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    again = AthenaViewsOperator(task_id="views", definition=str(path),
                                skip_if_published=True, sleep_time=0)
    assert len(again.execute({})["QueryExecutionIds"]) == 4


def test_a_failed_athena_query_fails_the_task_with_athenas_reason(aws, monkeypatch):
    _, definition = aws
    op = AthenaViewsOperator(task_id="views", definition=definition, sleep_time=0)
    # moto runs no SQL and never fails a query: stand in for Athena's answer
    monkeypatch.setattr(op.hook, "poll_query_status", lambda *a, **k: "FAILED")
    monkeypatch.setattr(op.hook, "get_state_change_reason",
                        lambda *a, **k: "line 3:7: Column 'viewz' cannot be resolved")
    with pytest.raises(AirflowException, match="create view l4m_live_data.*cannot be resolved"):
        op.execute({})


def test_spice_ingests_intervals_with_data_even_when_nothing_is_republished(aws, endpoint,
                                                                            monkeypatch):
    s3, _ = aws
    quicksight = QuickSightDouble()
    quicksight.start()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection(
        endpoint, service_config={"quicksight": {"endpoint_url": quicksight.url}}))
    forget_object_stores()
    try:
        spice = aws_definition(quicksight={"ImportMode": "SPICE"})
        definition = json.dumps(spice)
        s3.put_object(Bucket="l4m", Key="definitions/spice.json", Body=definition.encode())
        url = "s3://l4m/definitions/spice.json"

        def run(ti_try: int):
            op = QuickSightPublishOperator(task_id="qs", definition=url, skip_if_published=True,
                                           interval_start=INTERVAL)
            op.hook.poll_interval = 0
            return op.execute({"run_id": "scheduled__2021", "ti": type("TI", (), {
                "try_number": ti_try})()})

        marker(s3, scored=42, anomalies=0)
        first = run(1)
        assert first["dashboard"] == "created"
        assert set(first["Ingestions"]) == {"live dataset", "contributions dataset"}
        quicksight.clear()
        second = run(2)                     # same definition: only the ingestion runs
        assert "dashboard" not in second and second["Ingestions"]
        assert not [op for op in quicksight.operations() if op.startswith(("Create", "Update"))
                    and op != "CreateIngestion"]
        marker(s3, scored=0, anomalies=0)    # a gap and no change: nothing to do
        with pytest.raises(AirflowSkipException):
            run(3)
    finally:
        quicksight.stop()
