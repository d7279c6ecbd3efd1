"""Least privilege: ``l4m iam-policy`` grants every AWS request the pipeline makes, and
nothing it does not make.

The requests are those recorded (``aws_iam.recording``) in the end-to-end run of
tests/test_aws_pipeline.py (setup, detect intervals, setup again: creations,
describes, detection storage, SNS alerts) plus, per definition, a republishing run
here for the paths that run does not take: publishing over resources an earlier,
different definition left (crawler, data source, datasets, analysis, dashboard and
permissions updated), SPICE ingestion and Lambda alerts when the definition has them.
``aws_iam.needs`` turns the calls into IAM requests, implied ones included.
"""
from __future__ import annotations

import copy
import io
import json
import urllib.request
import zipfile

import boto3
import pytest
from aws_definitions import ACCOUNT, ANALYST
from aws_iam import denied, needs, recording, unused
from botocore.stub import Stubber
from fakes.moto_server import CREDENTIALS, connection, moto_endpoint, reset
from fakes.quicksight_server import QuickSightDouble
from l4m.aws.glue_requests import crawler_request, database_request
from l4m.aws.iam import policy
from l4m.hooks.alerts import L4MAlertsHook
from l4m.hooks.glue import L4MGlueCrawlerHook
from l4m.hooks.quicksight import QuickSightPublishHook
from l4m.locations import resolve
from l4m.spec import parse_spec
from test_aws_pipeline import pipeline_run

BOSS = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/boss"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:l4m-alerts"
TOGGLE = {"PT1H": "P1D", "P1D": "PT1H", "SPICE": "DIRECT_QUERY", "DIRECT_QUERY": "SPICE",
          "CRAWL_EVERYTHING": "CRAWL_NEW_FOLDERS_ONLY",
          "CRAWL_NEW_FOLDERS_ONLY": "CRAWL_EVERYTHING"}


def changed(definition: dict) -> dict:
    """``definition`` with SPICE, another user and a Lambda alert."""
    doc = copy.deepcopy(definition)
    doc["Publish"]["QuickSight"].update(ImportMode="SPICE", Users=[ANALYST, BOSS])
    doc["Alerts"].append({"AlertName": "lambda-alert", "AlertSensitivityThreshold": 70,
                          "Action": {"LambdaConfiguration": {"LambdaArn": FUNCTION}}})
    return doc


def earlier(definition: dict) -> dict:
    """A definition differing from ``definition`` in every published field (frequency:
    the visuals; work group: the data source; import mode, users, recrawl policy)."""
    doc = copy.deepcopy(definition)
    config = doc["AnomalyDetectorConfig"]
    config["AnomalyDetectorFrequency"] = TOGGLE[config["AnomalyDetectorFrequency"]]
    glue, qs = doc["Publish"]["Glue"], doc["Publish"]["QuickSight"]
    glue["RecrawlPolicy"] = TOGGLE[glue.get("RecrawlPolicy", "CRAWL_EVERYTHING")]
    doc["Publish"]["Athena"]["WorkGroup"] = "other"
    qs.update(ImportMode=TOGGLE[qs.get("ImportMode", "DIRECT_QUERY")], Users=[BOSS])
    return doc


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, pytestconfig):
    return pipeline_run(tmp_path_factory, pytestconfig)


@pytest.fixture(scope="module")
def republished(e2e, tmp_path_factory):
    """{"old": the e2e definition, "new": its :func:`changed` version} → (spec, the
    calls of republishing it over :func:`earlier`'s resources)."""
    old = json.loads((e2e["out"] / "detectors" / "ecommerce.json").read_text())
    folder = tmp_path_factory.mktemp("republished")
    with pytest.MonkeyPatch.context() as env, moto_endpoint(set_env=False) as endpoint:
        for key, value in CREDENTIALS.items():
            env.setenv(key, value)
        try:
            return {name: _republish(doc, folder / f"{name}.json", endpoint, env)
                    for name, doc in (("old", old), ("new", changed(old)))}
        finally:
            _moto_config(endpoint, use_docker=True)


def _republish(doc: dict, path, endpoint: str, env) -> tuple:
    path.write_text(json.dumps(doc))
    spec, before = parse_spec(doc), parse_spec(earlier(doc))
    reset(endpoint)
    quicksight = QuickSightDouble()
    quicksight.start()
    env.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection(endpoint, service_config={
        "quicksight": {"endpoint_url": quicksight.url}}))
    calls: list[dict] = []
    try:
        glue = L4MGlueCrawlerHook(aws_conn_id="aws_default")
        publisher = QuickSightPublishHook(poll_interval=0.01, max_wait=10)
        glue.ensure_database(database_request(before))
        glue.ensure_crawler(crawler_request(before, resolve(before)))
        publisher.publish(before)
        lambdas = [a for a in spec.alerts if a.lambda_arn]
        if lambdas:
            _lambda_function(endpoint)
        described = glue.get_crawler(spec.pipeline.aws.glue.crawler)
        with recording(calls.append):
            glue.ensure_database(database_request(spec))
            _update_crawler(glue, described, crawler_request(spec, resolve(spec)))
            publisher.publish(spec)
            if spec.pipeline.aws.quicksight.import_mode == "SPICE":
                publisher.ingest(spec, "run-1", check_interval=0)
            for alert in lambdas:
                L4MAlertsHook(str(path)).send(alert, {"alertEventId": "event-1"})
    finally:
        quicksight.stop()
    return spec, calls


def _update_crawler(glue, described: dict, request: dict) -> None:
    """Update the crawler ``described`` to ``request`` (moto has no UpdateCrawler:
    Glue's answers to the update path are stubbed)."""
    with Stubber(glue.glue_client) as stub:
        for _ in range(2):
            stub.add_response("get_crawler", {"Crawler": described}, {"Name": request["Name"]})
        stub.add_response("update_crawler", {}, request)
        assert glue.ensure_crawler(request) == "updated"


def _moto_config(endpoint: str, *, use_docker: bool) -> None:
    """Whether moto runs Lambda functions in docker (a process-wide moto setting)."""
    urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/moto-api/config", method="POST",
        data=json.dumps({"lambda": {"use_docker": use_docker}}).encode()))


def _lambda_function(endpoint: str) -> None:
    """FUNCTION on moto, run without docker."""
    _moto_config(endpoint, use_docker=False)
    role = boto3.client("iam", endpoint_url=endpoint).create_role(
        RoleName="l4m-alerts", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda", endpoint_url=endpoint).create_function(
        FunctionName="l4m-alerts", Runtime="python3.11", Role=role["Role"]["Arn"],
        Handler="handler.handler", Code={"ZipFile": code.getvalue()})


def file_or_folder(spec, found: list[str]) -> list[str]:
    """``found`` less one of the two ARNs of each historical path: it names a file (read
    by its own key) or a folder (the keys under it; a storage check may also look up
    its own key), the policy cannot tell which and grants both, so one may go unused."""
    for url in spec.historical_paths:
        arn = "arn:aws:s3:::" + url.removeprefix("s3://").rstrip("/")
        pair = {f"ReadData: resource {arn}", f"ReadData: resource {arn}/*"}
        assert not pair <= set(found), f"{url}: neither read as a file nor as a folder"
        found = [f for f in found if f not in pair]
    return found


UPDATES = {"UpdateCrawler", "UpdateDataSource", "UpdateDataSet", "UpdateAnalysis",
           "UpdateDashboard", "UpdateDashboardPublishedVersion", "UpdateDataSourcePermissions",
           "UpdateDataSetPermissions", "UpdateAnalysisPermissions", "UpdateDashboardPermissions"}


@pytest.mark.parametrize("which, features", [
    ("old", set()), ("new", {"CreateIngestion", "DescribeIngestion", "Invoke"})])
def test_republishing_requests_are_allowed(republished, which, features):
    spec, calls = republished[which]
    operations = {c["operation"] for c in calls}
    assert UPDATES | features <= operations
    assert not {"CreateIngestion", "Invoke"} - features & operations
    assert denied(policy(spec), needs(calls, ACCOUNT)) == []


@pytest.mark.parametrize("which", ["old", "new"])
def test_the_policy_grants_nothing_the_pipeline_does_not_use(e2e, republished, which):
    """Every action and every resource of each statement is used by a request of the
    e2e run or of republishing the definition (``old``: the e2e definition; ``new``:
    SPICE and a Lambda alert too)."""
    spec, calls = republished[which]
    requests = needs(e2e["calls"], ACCOUNT) + needs(calls, ACCOUNT)
    # used only when a multipart rewrite of a result fails (test_detector_hook_s3.py)
    failure_only = ["DetectorResults: action s3:AbortMultipartUpload"]
    assert file_or_folder(spec, unused(policy(spec), requests)) == failure_only
