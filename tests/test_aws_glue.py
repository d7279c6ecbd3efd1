"""Glue and Athena requests: valid against the installed botocore's own service models,
and the Glue hook's set-up is idempotent (moto): created once, then unchanged, updated
only when the definition changes; a running crawl is joined; a failed crawl is loud."""
from __future__ import annotations

import botocore.session
import pytest
from aws_definitions import aws_definition
from botocore.stub import Stubber
from botocore.validate import ParamValidator
from fakes.moto_glue import crawls_succeed
from l4m.aws.athena_sql import statements
from l4m.aws.glue_requests import crawler_request, crawler_targets, database_request
from l4m.hooks.glue import CrawlFailed, L4MGlueCrawlerHook
from l4m.locations import resolve
from l4m.spec import parse_spec
from moto import mock_aws
from moto.moto_api import state_manager

SESSION = botocore.session.get_session()


def assert_valid(service: str, operation: str, params: dict) -> None:
    shape = SESSION.get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(params, shape)
    assert not report.has_errors(), report.generate_report()


SPECS = {
    "seed policy": parse_spec(aws_definition()),
    "incremental": parse_spec(aws_definition(glue={"RecrawlPolicy": "CRAWL_NEW_FOLDERS_ONLY",
                                                   "DatabaseName": "odd_db-1"})),
}


@pytest.mark.parametrize("name", SPECS)
def test_every_glue_and_athena_request_is_valid_for_botocore(name):
    spec = SPECS[name]
    crawler = crawler_request(spec, resolve(spec))
    assert_valid("glue", "CreateDatabase", database_request(spec))
    assert_valid("glue", "GetDatabase", {"Name": database_request(spec)["DatabaseInput"]["Name"]})
    for operation in ("CreateCrawler", "UpdateCrawler"):
        assert_valid("glue", operation, crawler)
    for operation in ("GetCrawler", "StartCrawler"):
        assert_valid("glue", operation, {"Name": crawler["Name"]})
    athena = spec.pipeline.aws.athena
    for _, sql in statements(spec):
        assert_valid("athena", "StartQueryExecution", {
            "QueryString": sql, "WorkGroup": athena.work_group,
            "QueryExecutionContext": {"Database": spec.pipeline.aws.glue.database},
            "ResultConfiguration": {"OutputLocation": "s3://l4m/athena/"}})
    assert_valid("athena", "GetQueryExecution", {"QueryExecutionId": "0" * 36})


def test_crawler_targets_the_live_folder_and_the_two_result_tables():
    spec = SPECS["seed policy"]
    request = crawler_request(spec, resolve(spec))
    assert crawler_targets(resolve(spec)) == [
        "s3://l4m/ecommerce/live/",
        "s3://l4m/results/anomalyResults/dimensionContributions/",
        "s3://l4m/results/anomalyResults/metricValueAnomalyScore/"]
    assert request["SchemaChangePolicy"] == {"UpdateBehavior": "UPDATE_IN_DATABASE",
                                             "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
    assert request["RecrawlPolicy"] == {"RecrawlBehavior": "CRAWL_EVERYTHING"}
    incremental = crawler_request(SPECS["incremental"], resolve(SPECS["incremental"]))
    # AWS allows incremental crawls only with the LOG policies.
    assert incremental["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}


@pytest.fixture()
def glue(monkeypatch):
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", '{"conn_type": "aws"}')
    with mock_aws(), crawls_succeed():
        yield L4MGlueCrawlerHook(aws_conn_id="aws_default", region_name="us-east-1")


def test_glue_setup_is_created_once_then_left_alone_then_updated_on_change(glue):
    spec = SPECS["seed policy"]
    request = crawler_request(spec, resolve(spec))
    assert glue.ensure_database(database_request(spec)) == "created"
    assert glue.ensure_database(database_request(spec)) == "unchanged"
    assert glue.ensure_crawler(request) == "created"
    assert glue.ensure_crawler(request) == "unchanged"   # Glue's added defaults are no drift
    changed = {**request, "Role": "arn:aws:iam::123456789012:role/other"}
    # moto has no UpdateCrawler: stub Glue's answers for the update path
    described = glue.get_crawler(request["Name"])
    with Stubber(glue.glue_client) as stub:
        stub.add_response("get_crawler", {"Crawler": described}, {"Name": request["Name"]})
        stub.add_response("get_crawler", {"Crawler": described}, {"Name": request["Name"]})
        stub.add_response("update_crawler", {}, changed)
        assert glue.ensure_crawler(changed) == "updated"
        stub.assert_no_pending_responses()


def test_a_running_crawl_is_joined_and_a_finished_one_checked(glue):
    spec = SPECS["seed policy"]
    request = crawler_request(spec, resolve(spec))
    glue.ensure_crawler(request)
    state_manager.set_transition("glue::crawl", {"progression": "time", "seconds": 1})
    assert glue.start_or_join(request["Name"]) == "started"
    assert glue.start_or_join(request["Name"]) == "joined"
    glue.get_waiter("crawler_ready").wait(Name=request["Name"],
                                          WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    assert glue.last_crawl(request["Name"])["Status"] == "SUCCEEDED"


def test_a_failed_crawl_fails_with_glues_message(glue):
    # moto never fails a crawl: stub GetCrawler's answer instead.
    with Stubber(glue.glue_client) as stub:
        stub.add_response("get_crawler", {"Crawler": {"Name": "c", "LastCrawl": {
            "Status": "FAILED", "ErrorMessage": "Access denied to s3://l4m/results",
            "LogGroup": "/aws-glue/crawlers", "LogStream": "c"}}}, {"Name": "c"})
        with pytest.raises(CrawlFailed, match="FAILED — Access denied to s3://l4m/results"):
            glue.last_crawl("c")
