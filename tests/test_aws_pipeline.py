"""End to end on AWS, through Airflow's own runner: ``l4m_<name>_setup`` and several
``l4m_<name>_detect`` intervals against a moto server on 127.0.0.1 with the tutorial
data in S3.

What moto cannot do, and what the test checks instead:
- Glue: moto never crawls (no tables appear); the crawler's creation, its targets and
  the crawls started are checked. (tests/test_aws_sql.py runs the view SQL over tables
  shaped as the crawler makes them.)
- Athena: moto runs no SQL; the statements it received are checked.
- QuickSight: moto keeps only ids for a few calls, so QuickSight goes to the test double
  in ``tests/fakes/quicksight_server.py`` (the connection's ``service_config``), which
  stores the requests; the product code is the same either way.
Every request the DAGs sent (all services, S3 included) is also validated against the
installed botocore's service model, and allowed by ``l4m iam-policy``.

The run happens once per test session (:func:`pipeline_run`): the secret scan and the
least-privilege test under ``tests/reliability/`` read the same run. Its moto server
runs in a process of its own, so other modules resetting moto leave it alone. The
DAGs' only AWS credentials are the Airflow connection's (no ``AWS_*`` variables, no
credential files, no instance metadata), canary values that must show up nowhere.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import boto3
import botocore.session
import pytest
from aws_definitions import ACCOUNT, aws_definition
from aws_iam import denied, needs
from botocore.validate import ParamValidator
from fakes.quicksight_server import QuickSightDouble
from l4m.aws.iam import policy
from l4m.demo import airflow_env
from l4m.spec import parse_spec
from l4m.synth import write_dataset

DAYS, HOURS = 16, 3
LIVE_START = dt.datetime(2021, 1, 17, tzinfo=dt.timezone.utc) - dt.timedelta(hours=HOURS)
TOPIC = "arn:aws:sns:us-east-1:123456789012:l4m-ecommerce"
ATHENA_RESULTS = "s3://l4m-athena/results/"   # another bucket: its grants stay apart
TESTS = Path(__file__).resolve().parent
# The connection's secrets: each holds CANARY, which no output may contain.
CANARY = "l4mcanary"
SECRETS = {"login": "AKIAL4MCANARY0KEY0ID", "password": "l4mCanarySecretKey0123456789abcdefABCDEF",
           "aws_session_token": "l4mCanarySessionToken0123456789abcdefABCDEF"}

# Runs in the child process (its own Airflow home): records every AWS call, then runs
# the DAGs as the demo does.
CHILD = textwrap.dedent("""
    import datetime as dt, json, sys
    from aws_iam import recording

    calls, phase = open(sys.argv[1], "a"), ["setup"]

    def sink(call):
        calls.write(json.dumps({**call, "phase": phase[0]}) + "\\n")
        calls.flush()

    with recording(sink):
        from l4m.compat import dag_bag, dag_test
        from l4m.demo import dags_folder, _check

        bag = dag_bag(str(dags_folder()))
        assert not bag.import_errors, bag.import_errors
        setup, detect = bag.dags["l4m_ecommerce_setup"], bag.dags["l4m_ecommerce_detect"]
        start = dt.datetime.fromisoformat(sys.argv[2])
        _check(dag_test(setup, start), "setup")
        phase[0] = "detect"
        for h in range(int(sys.argv[3])):
            _check(dag_test(detect, start + dt.timedelta(hours=h + 1)), f"detect {h}")
        phase[0] = "setup again"
        _check(dag_test(setup, start + dt.timedelta(minutes=1)), "setup again")
""")

# A moto server in a process of its own, with crawls that finish (fakes.moto_glue);
# prints its URL, serves until its standard input closes.
MOTO = textwrap.dedent("""
    import sys
    from fakes.moto_glue import crawls_succeed
    from moto.server import ThreadedMotoServer

    with crawls_succeed():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        print("http://%s:%d" % server.get_host_and_port(), flush=True)
        sys.stdin.read()
        server.stop()
""")
_RUN: dict = {}


def pipeline_run(tmp_path_factory, pytestconfig) -> dict:
    """The run (started at the first call of the session, stopped at its end):
    ``clients`` (boto3, on the moto server), ``queue``, ``calls`` (recorded, with their
    ``phase``), ``spec``, ``quicksight`` (the double's requests), ``alerts`` (SQS
    message bodies), ``out`` (the run's folder: Airflow home, logs, definition) and
    ``env`` (the DAG process's environment)."""
    if not _RUN:
        stack = contextlib.ExitStack()
        pytestconfig.add_cleanup(stack.close)
        try:
            _RUN.update(_run(stack, tmp_path_factory.mktemp("aws")))
        except BaseException:
            stack.close()
            raise
    return _RUN


@pytest.fixture(scope="module")
def run(tmp_path_factory, pytestconfig):
    return pipeline_run(tmp_path_factory, pytestconfig)


@contextlib.contextmanager
def moto_process(log: Path):
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-c", MOTO], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=sink, text=True,
                                  env={**os.environ, "PYTHONPATH": path})
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://"), log.read_text()[-3000:]
        yield url
    finally:
        server.stdin.close()
        server.wait(timeout=60)


def child_env(out: Path, endpoint: str, quicksight: str) -> dict:
    """The Airflow home's environment with AWS credentials only in the connection."""
    env = {k: v for k, v in airflow_env(out).items() if not k.startswith("AWS_")}
    connection = {"conn_type": "aws", "login": SECRETS["login"],
                  "password": SECRETS["password"], "extra": {
                      "endpoint_url": endpoint, "region_name": "us-east-1",
                      "aws_session_token": SECRETS["aws_session_token"],
                      "service_config": {"quicksight": {"endpoint_url": quicksight}}}}
    return {**env, "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
            "AWS_SHARED_CREDENTIALS_FILE": str(out / "no-such-file"),
            "AWS_CONFIG_FILE": str(out / "no-such-file"), "AWS_EC2_METADATA_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))}


def _run(stack: contextlib.ExitStack, out: Path) -> dict:
    quicksight = QuickSightDouble()
    quicksight.start()
    stack.callback(quicksight.stop)
    endpoint = stack.enter_context(moto_process(out / "moto.log"))
    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")
    clients = {name: session.client(name, endpoint_url=endpoint)
               for name in ("s3", "sns", "sqs", "glue", "athena")}
    queue = prepare_aws(clients, out)
    definition = aws_definition(athena={"OutputLocation": ATHENA_RESULTS})
    definition["Schedule"] = {"StartDate": LIVE_START.strftime("%Y-%m-%dT%H:%M:%SZ")}
    (out / "detectors").mkdir()
    (out / "detectors" / "ecommerce.json").write_text(json.dumps(definition))
    env = child_env(out, endpoint, quicksight.url)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    calls_file = out / "calls.jsonl"
    log = out / "dag-runs.log"
    with log.open("w") as sink:
        done = subprocess.run([sys.executable, "-c", CHILD, str(calls_file),
                               LIVE_START.isoformat(), str(HOURS)], env=env,
                              stdout=sink, stderr=subprocess.STDOUT, check=False)
    assert done.returncode == 0, log.read_text()[-6000:]
    alerts = clients["sqs"].receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                            VisibilityTimeout=0).get("Messages", [])
    return {"clients": clients, "queue": queue, "spec": parse_spec(definition),
            "calls": [json.loads(line) for line in calls_file.read_text().splitlines()],
            "quicksight": list(quicksight.requests), "alerts": [m["Body"] for m in alerts],
            "out": out, "env": env}


def prepare_aws(clients, out: Path) -> str:
    """The bucket with history and live files (one surge to alert on), the alert topic
    with an SQS queue subscribed; returns the queue URL."""
    s3 = clients["s3"]
    s3.create_bucket(Bucket="l4m")
    data = write_dataset(out / "synth", seed=5, days=DAYS).root
    s3.upload_file(str(data / "backtest" / "input.csv"), "l4m", "ecommerce/backtest/input.csv")
    for h in range(HOURS):
        t = LIVE_START + dt.timedelta(hours=h)
        rel = f"live/{t:%Y%m%d}/{t:%H%M}/{t:%Y%m%d_%H%M%S}.csv"
        text = (data / rel).read_text()
        if h == HOURS - 1:   # a surge in one series: an anomaly the alert must report
            rows = list(csv.DictReader(io.StringIO(text)))
            rows[0]["views"] = str(float(rows[0]["views"]) * 20)
            rows[0]["revenue"] = str(float(rows[0]["revenue"]) * 20)
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            text = buf.getvalue()
        s3.put_object(Bucket="l4m", Key=f"ecommerce/{rel}", Body=text.encode())
    topic = clients["sns"].create_topic(Name="l4m-ecommerce")["TopicArn"]
    assert topic == TOPIC
    queue = clients["sqs"].create_queue(QueueName="l4m-alerts")["QueueUrl"]
    arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    clients["sns"].subscribe(TopicArn=topic, Protocol="sqs",
                             Endpoint=arn["Attributes"]["QueueArn"],
                             Attributes={"RawMessageDelivery": "true"})
    return queue


def operations(calls, service: str, phase: str | None = None) -> list[str]:
    return [c["operation"] for c in calls
            if c["service"] == service and (phase is None or c["phase"] == phase)]


def test_results_land_in_s3_in_the_seed_layout(run):
    s3 = run["clients"]["s3"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="l4m", Prefix="results/")["Contents"]]
    scores = [k for k in keys if k.startswith("results/anomalyResults/metricValueAnomalyScore/")]
    assert scores and all(k.endswith("_metricValueAnomalyScore.csv") for k in scores)
    header = s3.get_object(Bucket="l4m", Key=scores[-1])["Body"].read().decode().splitlines()[0]
    assert header == ("key,Timestamp,platform,marketplace,viewsAnomalyMetricValue,"
                      "viewsGroupScore,revenueAnomalyMetricValue,revenueGroupScore")
    assert len([k for k in keys if k.startswith("results/intervals/")]) == HOURS


def test_the_crawler_is_created_once_and_run(run):
    glue, calls = run["clients"]["glue"], run["calls"]
    crawler = glue.get_crawler(Name="l4m-ecommerce-crawler")["Crawler"]
    assert [t["Path"] for t in crawler["Targets"]["S3Targets"]] == [
        "s3://l4m/ecommerce/live/", "s3://l4m/results/anomalyResults/dimensionContributions/",
        "s3://l4m/results/anomalyResults/metricValueAnomalyScore/"]
    assert crawler["DatabaseName"] == "l4m-crawler-output-db"
    assert glue.get_database(Name="l4m-crawler-output-db")["Database"]["Name"]
    assert operations(calls, "glue").count("CreateCrawler") == 1
    assert operations(calls, "glue").count("CreateDatabase") == 1
    assert "UpdateCrawler" not in operations(calls, "glue")
    # setup crawls once; every detect interval brought data, so each crawls its partition
    assert operations(calls, "glue", "setup").count("StartCrawler") == 1
    assert operations(calls, "glue", "detect").count("StartCrawler") == HOURS


def test_the_views_are_issued_once_per_definition(run):
    athena = [c for c in run["calls"] if c["operation"] == "StartQueryExecution"]
    setup = [c["params"]["QueryString"] for c in athena if c["phase"] == "setup"]
    assert [q.split(" AS\n")[0] for q in setup if q.startswith("CREATE")] == [
        'CREATE OR REPLACE VIEW "l4m-crawler-output-db"."l4m_live_data"',
        'CREATE OR REPLACE VIEW "l4m-crawler-output-db"."l4m_dimension_contributions"']
    assert sum(q.endswith("LIMIT 0") for q in setup) == 2
    # detect runs: the views already match the definition, so nothing is sent
    assert not [c for c in athena if c["phase"] == "detect"]
    moto_ids = run["clients"]["athena"].list_query_executions()["QueryExecutionIds"]
    assert len(moto_ids) >= len(setup)


def test_quicksight_resources_are_created_once_then_left_alone(run):
    created = [op for op, _ in run["quicksight"] if op.startswith("Create")]
    assert sorted(created) == sorted(["CreateDataSource", "CreateDataSet", "CreateDataSet",
                                      "CreateAnalysis", "CreateDashboard"])
    qs_calls = run["calls"]
    again = operations(qs_calls, "quicksight", "setup again")
    assert again, "the second setup run must describe the resources"
    assert not [op for op in again if op.startswith(("Create", "Update"))]
    assert not operations(qs_calls, "quicksight", "detect")   # DIRECT_QUERY: nothing to do


def test_the_alert_reaches_the_sqs_queue(run):
    sqs = run["clients"]["sqs"]
    messages = sqs.receive_message(QueueUrl=run["queue"], MaxNumberOfMessages=10,
                                   WaitTimeSeconds=1).get("Messages", [])
    assert messages
    payload = json.loads(messages[0]["Body"])
    assert payload["alertName"] == "ecommerce-high-severity"
    assert payload["impactedMetric"]["metricName"] in ("views", "revenue")
    assert payload["anomalyScore"] >= 70


def test_every_request_is_valid_for_botocore_and_allowed_by_the_iam_policy(run):
    session = botocore.session.get_session()
    for call in run["calls"]:
        model = session.get_service_model(call["service"]).operation_model(call["operation"])
        report = ParamValidator().validate(call["params"], model.input_shape)
        assert not report.has_errors(), (call["operation"], report.generate_report())
    assert denied(policy(run["spec"]), needs(run["calls"], ACCOUNT)) == []
    seen = {f"{c['service']}:{c['operation']}" for c in run["calls"]}
    assert {"glue:CreateCrawler", "athena:StartQueryExecution", "quicksight:CreateDashboard",
            "sns:Publish", "s3:PutObject", "s3:DeleteObject"} <= seen
