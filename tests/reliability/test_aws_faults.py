"""AWS faults: throttling, 5xx, errors that retrying cannot fix, races with another run.

S3 (results and state through ObjectStoragePath and s3fs, as the DAG's tasks use them),
Glue, Athena, SNS and Lambda run on a moto server behind :class:`FaultyAws`, a WSGI
layer that answers chosen requests with AWS's errors before moto sees them (or after:
"done, but the answer was lost"), so botocore's and s3fs' own retry handlers get what
AWS would send. QuickSight runs on the test double of ``tests/fakes/quicksight_server.py``;
its faults are answers returned from botocore's ``before-send`` event, which botocore's
retry handler treats like any HTTP answer. Retry budgets: the connection's
``config_kwargs`` allow 2 attempts, a definition's ``Aws.BotocoreConfig`` 3.
"""
from __future__ import annotations

import io
import json
import re
import threading
import urllib.request
import uuid
import zipfile
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus

import boto3
import pytest
from alert_helpers import INTERVAL as ALERT_INTERVAL
from alert_helpers import deliveries, record, subscribed_topic, write_definition
from aws_definitions import aws_definition
from botocore.awsrequest import AWSResponse
from botocore.retries.standard import ExponentialBackoff
from fakes.moto_glue import crawls_succeed
from fakes.moto_server import CREDENTIALS, connection, forget_object_stores
from fakes.quicksight_server import QuickSightDouble
from helpers import START, make_dataset
from l4m.compat import AirflowException, TaskDeferred
from l4m.dag_factory import setup_dag
from l4m.hooks.alerts import AlertDeliveryError
from l4m.hooks.detector import DetectorHook
from l4m.hooks.glue import CrawlFailed
from l4m.hooks.quicksight import QuickSightPublishError, QuickSightPublishHook
from l4m.operators.alerts import SendAlertsOperator
from l4m.operators.aws import AthenaViewsOperator, GlueCrawlOperator
from l4m.spec import parse_spec
from moto.glue.models import FakeCrawler
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

CONNECTION_RETRIES = {"mode": "standard", "max_attempts": 1}    # 2 attempts in all
DEFINITION_RETRIES = {"mode": "standard", "max_attempts": 2}    # 3 attempts in all
CRAWLER = "l4m-ecommerce-crawler"

# ---------------------------------------------------------------------------- fault server


@dataclass
class Fault:
    """Answer matching requests with an AWS error (or ``answer``, a JSON body)."""

    service: str               # the signing name: s3, sns, lambda, glue, athena
    operation: str             # PutObject, GetObject, Publish, Invoke, StartCrawler, …
    code: str = ""
    status: int = 400
    times: int | None = None   # how many requests it answers; None: all
    match: str = ""            # a regex the path (and but for S3 the decoded body) must hold
    after: bool = False        # moto handles the request first: done, the answer is lost
    answer: dict | None = None
    hits: int = 0


class FaultyAws:
    """A moto server on 127.0.0.1 whose answers :class:`Fault` rules replace."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str]] = []   # (service, operation, text)
        self._moto = DomainDispatcherApplication(create_backend_app)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True,
                                   request_handler=MotoRequestHandler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    def fail(self, service: str, operation: str, code: str = "", status: int = 400,
             **options) -> Fault:
        fault = Fault(service, operation, code, status, **options)
        self.faults.append(fault)
        return fault

    def count(self, service: str, operation: str, match: str = "") -> int:
        """Requests received (answered by a fault or by moto)."""
        return sum(1 for s, o, text in self.requests
                   if (s, o) == (service, operation) and re.search(match, text))

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service, operation = _operation(environ, body)
        text = environ["PATH_INFO"]
        if service != "s3":
            text += " " + unquote_plus(body.decode("utf-8", "replace"))
        with self._lock:
            self.requests.append((service, operation, text))
            fault = next((f for f in self.faults if (f.service, f.operation) == (service, operation)
                          and (f.times is None or f.hits < f.times)
                          and re.search(f.match, text)), None)
            if fault is not None:
                fault.hits += 1
        if fault is None:
            return self._moto(environ, start_response)
        if fault.after:
            b"".join(self._moto(environ, lambda *args, **kwargs: None))
        status, headers, data = _answer(service, fault, body)
        start_response(f"{status} Injected", [*headers.items(),
                                              ("Content-Length", str(len(data)))])
        return [data]

    @cached_property
    def s3(self):
        """A plain S3 client of the server (its requests can meet faults too)."""
        return boto3.client("s3", endpoint_url=self.url)

    @contextmanager
    def running(self):
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()


def _operation(environ, body: bytes) -> tuple[str, str]:
    """(signing name, operation) of a request: from X-Amz-Target (JSON protocols), the
    Action form field (SNS), the REST path (Lambda Invoke) or the method (S3 objects)."""
    scope = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/",
                      environ.get("HTTP_AUTHORIZATION", ""))
    service = scope.group(1) if scope else ""
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if target := environ.get("HTTP_X_AMZ_TARGET"):
        return service, target.rsplit(".", 1)[-1]
    if service == "s3":
        if path.strip("/").count("/") == 0:
            return service, f"{method} bucket"
        return service, {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                         "DELETE": "DeleteObject"}.get(method, method)
    if service == "lambda" and path.endswith("/invocations"):
        return service, "Invoke"
    action = parse_qs(body.decode("utf-8", "replace")).get("Action")
    return service, action[0] if action else f"{method} {path}"


def _answer(service: str, fault: Fault, body: bytes) -> tuple[int, dict, bytes]:
    """(status, headers, body) of the fault's answer, in the service's protocol."""
    if fault.answer is not None:
        return 200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(
            fault.answer).encode()
    message = f"injected by the test ({fault.code})"
    if service == "s3":
        data = f"<Error><Code>{fault.code}</Code><Message>{message}</Message></Error>"
        return fault.status, {"Content-Type": "application/xml"}, data.encode()
    if service == "sns":
        data = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{fault.code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>1</RequestId></ErrorResponse>")
        return fault.status, {"Content-Type": "text/xml"}, data.encode()
    return fault.status, {"Content-Type": "application/x-amz-json-1.1",
                          "x-amzn-ErrorType": fault.code}, json.dumps(
        {"__type": fault.code, "message": message}).encode()


class _Raw(io.BytesIO):
    """An HTTP body as botocore reads one."""

    def stream(self, **_):
        yield self.getvalue()


def quicksight_error(code: str, status: int) -> AWSResponse:
    """QuickSight's answer with an error, for a ``before-send`` handler to return."""
    data = json.dumps({"Message": f"injected by the test ({code})"}).encode()
    return AWSResponse("https://quicksight", status, {"x-amzn-ErrorType": code}, _Raw(data))


# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def aws():
    """The fault server with the ``aws_default`` connection on it, and the bucket.

    botocore's randomized back-off between attempts (up to seconds) is set to zero: the
    tests check which requests are retried and how often, not how long botocore waits.
    """
    server = FaultyAws()
    with server.running(), pytest.MonkeyPatch.context() as env:
        env.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
        for key, value in CREDENTIALS.items():
            env.setenv(key, value)
        env.setenv("AIRFLOW_CONN_AWS_DEFAULT",
                   connection(server.url, config_kwargs={"retries": CONNECTION_RETRIES}))
        forget_object_stores()
        server.s3.create_bucket(Bucket="l4m")
        config = f"{server.url}/moto-api/config"
        before = json.load(urllib.request.urlopen(config))
        _post(config, {"lambda": {"use_docker": False}})   # moto runs handlers in-process
        try:
            yield server
        finally:
            _post(config, before)
            urllib.request.urlopen(urllib.request.Request(f"{server.url}/moto-api/reset",
                                                          method="POST"))
            forget_object_stores()


def _post(url: str, body: dict) -> None:
    urllib.request.urlopen(urllib.request.Request(url, data=json.dumps(body).encode(),
                                                  method="POST"))


@pytest.fixture(autouse=True)
def fresh_faults(aws):
    """Each test starts with no faults and counts only its own requests."""
    aws.requests.clear()
    yield
    aws.faults.clear()


# ---------------------------------------------------------------------------- S3


INTERVAL = "2021-01-09T03:00:00Z"


def objects(s3, prefix: str) -> dict[str, bytes]:
    """What readers see under ``prefix``: every object but hidden ones (the lock lease)."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="l4m", Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            if not item["Key"].rsplit("/", 1)[-1].startswith("."):
                body = s3.get_object(Bucket="l4m", Key=item["Key"])["Body"].read()
                found[item["Key"].removeprefix(prefix + "/")] = body
    return found


@pytest.fixture(scope="module")
def s3_detector(aws, tmp_path_factory):
    """A detector on ``s3://l4m/base`` that has detected the three intervals before
    INTERVAL; returns ``clone(prefix)``: a copy under ``prefix``, its definition path."""
    root = tmp_path_factory.mktemp("s3-faults")
    data = make_dataset(root / "data")
    for path in data.rglob("*.csv"):
        rel = path.relative_to(data).as_posix()
        if rel.startswith(("backtest/", "live/20210109/")):
            aws.s3.upload_file(str(path), "l4m", f"ecommerce/{rel}")
    doc = json.loads((data / "definition.json").read_text())
    source = doc["MetricSet"]["MetricSource"]["S3SourceConfig"]
    source["TemplatedPathList"] = ["s3://l4m/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"]
    source["HistoricalDataPathList"] = ["s3://l4m/ecommerce/backtest/"]
    doc["Schedule"] = {"StartDate": START, "Catchup": True}

    def definition(prefix: str) -> str:
        doc["Storage"] = {"ResultsPath": f"s3://l4m/{prefix}/results",
                          "StatePath": f"s3://l4m/{prefix}/state"}
        path = root / f"{prefix}.json"
        path.write_text(json.dumps(doc))
        return str(path)

    hook = DetectorHook.from_file(definition("base"))
    hook.create_detector()
    hook.activate_detector()
    for hour in range(3):
        hook.detect_interval(f"2021-01-09T0{hour}:00:00Z")

    def clone(prefix: str) -> str:
        for key, body in objects(aws.s3, "base").items():
            aws.s3.put_object(Bucket="l4m", Key=f"{prefix}/{key}", Body=body)
        return definition(prefix)

    return clone


@pytest.fixture(scope="module")
def s3_reference(aws, s3_detector):
    """(objects before INTERVAL, objects after it, marker) of an undisturbed run."""
    before = objects(aws.s3, "base")
    marker = DetectorHook.from_file(s3_detector("reference")).detect_interval(INTERVAL)
    return before, objects(aws.s3, "reference"), marker


def test_s3_throttling_and_5xx_are_retried_and_change_nothing(aws, s3_detector, s3_reference):
    _, expected, marker = s3_reference
    definition = s3_detector("transient")
    faults = [
        # within botocore's budget of 2 attempts
        aws.fail("s3", "GetObject", "InternalError", 500, times=1, match=r"transient/state/"),
        aws.fail("s3", "PutObject", "SlowDown", 503, times=1,
                 match=r"transient/state/versions/.*/detector\.json"),
        # beyond it: s3fs retries SlowDown itself
        aws.fail("s3", "PutObject", "SlowDown", 503, times=3,
                 match=r"transient/results/anomalyResults/metricValueAnomalyScore/"),
    ]
    assert DetectorHook.from_file(definition).detect_interval(INTERVAL) == marker
    assert [f.hits for f in faults] == [1, 1, 3]
    aws.faults.clear()
    assert objects(aws.s3, "transient") == expected


@pytest.mark.parametrize(("case", "operation", "where"), [
    ("commit", "PutObject", r"/state/versions/.*/detector\.json"),   # the commit point
    ("groups", "PutObject", r"/results/anomalyGroups/"),
    ("load", "GetObject", r"/state/versions/"),                      # loading the model
])
def test_a_persistent_s3_failure_fails_the_detect_and_its_retry_finishes_it(
        aws, s3_detector, s3_reference, case, operation, where):
    before, expected, marker = s3_reference
    prefix = f"persistent-{case}"
    definition = s3_detector(prefix)
    fault = aws.fail("s3", operation, "InternalError", 500, match=prefix + where)
    with pytest.raises(OSError, match="InternalError|injected") as failure:
        DetectorHook.from_file(definition).detect_interval(INTERVAL)
    assert re.search(f"s3://[^ ]*/{prefix}{where}", str(failure.value)), failure.value
    assert fault.hits == 2                         # botocore's attempts, then it gave up
    aws.faults.clear()
    for key, body in objects(aws.s3, prefix).items():   # old or final, never partial
        assert body in (before.get(key), expected.get(key)), key
    assert DetectorHook.from_file(definition).detect_interval(INTERVAL) == marker
    assert objects(aws.s3, prefix) == expected


# ---------------------------------------------------------------------------- Glue


@pytest.fixture()
def aws_definition_file(tmp_path):
    def write(**changes) -> str:
        path = tmp_path / "ecommerce.json"
        path.write_text(json.dumps(aws_definition(**changes)))
        return str(path)
    return write


def crawl(definition: str, **kwargs) -> GlueCrawlOperator:
    return GlueCrawlOperator(task_id="crawl_tables", definition=definition, poll_interval=1,
                             max_attempts=30, **{"deferrable": False, **kwargs})


@contextmanager
def crawls_fail(message: str):
    """moto crawls that end FAILED with ``message`` (moto never fails one itself)."""
    with crawls_succeed(), pytest.MonkeyPatch.context() as patch:
        succeeded = FakeCrawler.as_dict

        def as_dict(self):
            data = succeeded(self)
            if data.get("LastCrawl"):
                data["LastCrawl"].update(Status="FAILED", ErrorMessage=message)
            return data

        patch.setattr(FakeCrawler, "as_dict", as_dict)
        yield


def test_a_crawl_already_running_is_joined_not_an_error(aws, aws_definition_file):
    definition = aws_definition_file()
    with crawls_succeed():
        crawl(definition).execute({})                       # crawler and database exist
    with crawls_succeed({"progression": "time", "seconds": 1}):
        boto3.client("glue", endpoint_url=aws.url).start_crawler(Name=CRAWLER)  # another run
        done = crawl(definition).execute({})
    assert (done["Crawl"], done["CrawlStatus"]) == ("joined", "SUCCEEDED")


def test_a_failed_crawl_fails_the_task_with_the_crawler_and_glues_reason(
        aws, aws_definition_file):
    definition = aws_definition_file()
    reason = "Insufficient Lake Formation permission(s) on s3://l4m/results"
    with crawls_fail(reason):
        with pytest.raises(CrawlFailed, match=f"{CRAWLER}: last crawl FAILED — {re.escape(reason)}"):
            crawl(definition).execute({})
        deferred = crawl(definition, deferrable=True)
        with pytest.raises(TaskDeferred) as task:
            deferred.execute({})
        with pytest.raises(CrawlFailed, match=f"{CRAWLER}: last crawl FAILED — "):
            deferred.execute_complete({}, {"status": "error", "message": "Crawler failed"},
                                      **task.value.kwargs)


def test_glue_throttling_is_retried_then_fails_loudly(aws, aws_definition_file):
    definition = aws_definition_file()
    with crawls_succeed():
        aws.fail("glue", "StartCrawler", "ThrottlingException", times=1)
        aws.fail("glue", "GetCrawler", "ThrottlingException", times=1)
        assert crawl(definition).execute({})["CrawlStatus"] == "SUCCEEDED"
        assert aws.count("glue", "StartCrawler") == 2
        aws.faults.clear()
        aws.requests.clear()
        aws.fail("glue", "StartCrawler", "ThrottlingException")
        with pytest.raises(Exception, match="ThrottlingException.*StartCrawler"):
            crawl(definition).execute({})
    assert aws.count("glue", "StartCrawler") == 2


# ---------------------------------------------------------------------------- Athena


def views(definition: str, **kwargs) -> AthenaViewsOperator:
    return AthenaViewsOperator(task_id="publish_athena_views", definition=definition,
                               sleep_time=0, max_polling_attempts=3, **kwargs)


def test_a_failed_athena_query_fails_with_the_view_and_athenas_reason(
        aws, aws_definition_file):
    definition = aws_definition_file()
    reason = "COLUMN_NOT_FOUND: line 3:7: Column 'viewz' cannot be resolved"
    aws.fail("athena", "GetQueryExecution", answer={"QueryExecution": {
        "QueryExecutionId": "q", "Status": {"State": "FAILED", "StateChangeReason": reason}}})
    with pytest.raises(AirflowException,
                       match=f"Athena create view l4m_live_data: query .* FAILED: {reason}"):
        views(definition, skip_if_published=True).execute({})
    aws.faults.clear()
    # not recorded as published: the next scheduled run creates the views again
    assert len(views(definition, skip_if_published=True).execute({})["QueryExecutionIds"]) == 4


def test_a_query_athena_rejects_fails_naming_the_view(aws, aws_definition_file):
    aws.fail("athena", "StartQueryExecution", "InvalidRequestException",
             match="CREATE OR REPLACE VIEW .*l4m_dimension_contributions")
    with pytest.raises(AirflowException, match="Athena create view l4m_dimension_contributions"
                                               ": .*InvalidRequestException"):
        views(aws_definition_file()).execute({})
    assert aws.count("athena", "StartQueryExecution", "l4m_dimension_contributions") == 1


def test_athena_throttling_is_retried(aws, aws_definition_file):
    aws.fail("athena", "StartQueryExecution", "ThrottlingException", times=1)
    aws.fail("athena", "GetQueryExecution", "TooManyRequestsException", times=1)
    assert len(views(aws_definition_file()).execute({})["QueryExecutionIds"]) == 4


# ---------------------------------------------------------------------------- QuickSight


@pytest.fixture()
def quicksight(aws, monkeypatch):
    """A fresh QuickSight double; the ``aws_default`` connection sends QuickSight to it."""
    double = QuickSightDouble()
    double.start()
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection(
        aws.url, config_kwargs={"retries": CONNECTION_RETRIES},
        service_config={"quicksight": {"endpoint_url": double.url}}))
    try:
        yield double
    finally:
        double.stop()


def publisher(**kwargs) -> QuickSightPublishHook:
    return QuickSightPublishHook(poll_interval=0.01, max_wait=10, **kwargs)


@pytest.mark.parametrize(("operation", "resource", "answer"), [
    ("CreateDataSource", "data source", "ConflictException"),
    ("CreateDataSet", "live dataset", "ResourceExistsException"),
    ("CreateAnalysis", "analysis", "ConflictException"),
    ("CreateDashboard", "dashboard", "ResourceExistsException")])
def test_a_resource_another_run_created_meanwhile_is_compared_not_an_error(
        quicksight, operation, resource, answer):
    spec = parse_spec(aws_definition())
    ours, theirs = publisher(), publisher()
    raced = []

    def other_run_first(**_):
        if raced:
            return None
        raced.append(operation)
        assert set(theirs.publish(spec).values()) <= {"created", "unchanged"}
        # QuickSight itself answers ResourceExistsException; a ConflictException is injected
        return quicksight_error(answer, 409) if answer == "ConflictException" else None

    ours.conn.meta.events.register(f"before-send.quicksight.{operation}", other_run_first)
    result = ours.publish(spec)
    assert raced and result[resource] == "unchanged"
    quicksight.clear()
    assert set(publisher().publish(spec).values()) == {"unchanged"}
    assert [op for op in quicksight.operations() if not op.startswith("Describe")] == []


def attempts_of(hook: QuickSightPublishHook, operation: str, code: str, status: int,
                times: int | None = None) -> Counter:
    """Answer ``operation`` with an error (the first ``times`` attempts, or all); returns
    the counter of its attempts."""
    seen = Counter()

    def answer(**_):
        seen[operation] += 1
        return quicksight_error(code, status) if times is None or seen[operation] <= times \
            else None

    hook.conn.meta.events.register(f"before-send.quicksight.{operation}", answer)
    return seen


def test_quicksight_throttling_is_retried(quicksight):
    hook = publisher(config={"retries": DEFINITION_RETRIES})
    seen = attempts_of(hook, "CreateDataSet", "ThrottlingException", 429, times=2)
    assert hook.publish(parse_spec(aws_definition()))["live dataset"] == "created"
    assert seen["CreateDataSet"] == 4                   # 3 for the first dataset, 1 more


def test_a_quicksight_limit_fails_naming_the_resource_after_the_retries(quicksight):
    hook = publisher()
    seen = attempts_of(hook, "CreateAnalysis", "LimitExceededException", 409)
    with pytest.raises(QuickSightPublishError, match="QuickSight analysis "
                       "'l4m-ecommerce-analysis': .*LimitExceededException"):
        hook.publish(parse_spec(aws_definition()))
    assert seen["CreateAnalysis"] == 2                  # the connection's budget


# ---------------------------------------------------------------------------- SNS and Lambda


@pytest.fixture()
def alerts(aws):
    """SNS and SQS clients, a topic with a queue, a Lambda function (moto, no docker)."""
    name = f"alerts-{uuid.uuid4().hex[:12]}"
    sns, sqs = (boto3.client(s, endpoint_url=aws.url) for s in ("sns", "sqs"))
    topic, queue = subscribed_topic(sns, sqs, name)
    iam = boto3.client("iam", endpoint_url=aws.url)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    function = boto3.client("lambda", endpoint_url=aws.url).create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handler",
        Code={"ZipFile": code.getvalue()})["FunctionArn"]
    return {"sns": sns, "sqs": sqs, "topic": topic, "queue": queue, "function": function,
            "name": name}


def send(definition: str) -> dict:
    return SendAlertsOperator(task_id="send_alerts", definition=definition,
                              interval_start=ALERT_INTERVAL).execute(context={})


def test_sns_and_lambda_throttling_is_retried_and_each_alert_sent_once(aws, alerts, tmp_path):
    definition = write_definition(tmp_path, [alerts["topic"], alerts["function"]])
    aws.fail("sns", "Publish", "Throttling", times=1)
    aws.fail("lambda", "Invoke", "TooManyRequestsException", 429, times=1)
    assert send(definition)["anomaly_alerts_sent"] == 2
    assert aws.count("sns", "Publish", alerts["name"]) == 2
    assert aws.count("lambda", "Invoke", alerts["name"]) == 2
    assert sorted(deliveries(alerts["sqs"], alerts["queue"]).values()) == [1]
    assert {json.loads(line)["status"] for line in record(tmp_path).read_text().splitlines()} \
        == {"sent"}


@pytest.mark.parametrize(("failing", "operation", "code", "status"), [
    ("topic", "Publish", "AuthorizationError", 403),
    ("function", "Invoke", "ResourceNotFoundException", 404),
])
def test_an_alert_that_cannot_be_delivered_stays_pending_and_only_it_is_sent_on_retry(
        aws, alerts, tmp_path, failing, operation, code, status):
    targets = [alerts["topic"], alerts["function"]]
    reference = write_definition(tmp_path / "reference", targets)
    send(reference)                                          # an undisturbed run
    deliveries(alerts["sqs"], alerts["queue"])
    definition = write_definition(tmp_path / "faulty", targets)
    service = "sns" if failing == "topic" else "lambda"
    aws.requests.clear()
    fault = aws.fail(service, operation, code, status)
    index = targets.index(alerts[failing])
    with pytest.raises(AlertDeliveryError, match=rf"1 of 2 .*alert alert-{index} to "
                                                 rf"{re.escape(alerts[failing])}: .*{code}"):
        send(definition)
    assert fault.hits == 1                                   # not retried: retrying cannot help
    entries = [json.loads(line) for line in record(tmp_path / "faulty").read_text().splitlines()]
    assert [e["status"] for e in entries] == ["sent" if i != index else "pending"
                                              for i in range(2)]
    assert code in entries[index]["error"]
    sent_before = len(deliveries(alerts["sqs"], alerts["queue"]))

    aws.faults.clear()
    counts = send(definition)                                # Airflow's retry of the task
    assert (counts["anomaly_alerts_sent"], counts["already_sent"]) == (1, 1)
    again = deliveries(alerts["sqs"], alerts["queue"])
    assert sent_before + len(again) == 1 and set(again.values()) <= {1}
    lambda_faults = fault.hits if service == "lambda" else 0
    assert aws.count("lambda", "Invoke") - lambda_faults == 1
    assert record(tmp_path / "faulty").read_text() == record(tmp_path / "reference").read_text()


@pytest.mark.parametrize("fifo", [False, True])
def test_a_publish_sns_accepted_but_whose_answer_was_lost(aws, alerts, tmp_path, fifo):
    topic, queue = subscribed_topic(alerts["sns"], alerts["sqs"], alerts["name"] + "-x", fifo)
    definition = write_definition(tmp_path, [topic])
    fault = aws.fail("sns", "Publish", "InternalError", 500, times=1, after=True)
    assert send(definition)["anomaly_alerts_sent"] == 1
    assert fault.hits == 1
    # botocore sent it again: a standard topic delivers it twice, a FIFO topic drops the
    # copy (same deduplication id); subscribers can deduplicate on alertEventId
    assert sorted(deliveries(alerts["sqs"], queue).values()) == [1 if fifo else 2]


@pytest.mark.parametrize(("botocore_config", "attempts"), [
    (None, 2),                                   # the connection's config_kwargs
    ({"retries": DEFINITION_RETRIES}, 3),        # the definition's Aws.BotocoreConfig
])
def test_alert_clients_use_the_configured_retries(aws, alerts, tmp_path, botocore_config,
                                                   attempts):
    aws_section = {"BotocoreConfig": botocore_config} if botocore_config else None
    definition = write_definition(tmp_path, [alerts["topic"]], aws_section)
    aws.fail("sns", "Publish", "Throttling")
    with pytest.raises(AlertDeliveryError, match="Throttling"):
        send(definition)
    assert aws.count("sns", "Publish", alerts["name"]) == attempts


def test_the_dags_aws_tasks_use_the_definitions_retries(aws, aws_definition_file):
    definition = aws_definition_file(Aws={"BotocoreConfig": {"retries": DEFINITION_RETRIES}})
    dag = setup_dag(parse_spec(json.loads(Path(definition).read_text())), definition)
    for task_id in ("crawl_tables", "publish_athena_views", "publish_quicksight"):
        retries = dag.get_task(task_id).hook.conn.meta.config.retries
        assert retries == {"mode": "standard", "total_max_attempts": 3}, (task_id, retries)
    aws.fail("glue", "GetDatabase", "ThrottlingException")
    with pytest.raises(Exception, match="ThrottlingException"):
        dag.get_task("crawl_tables").execute({})
    assert aws.count("glue", "GetDatabase") == 3
