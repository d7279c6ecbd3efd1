"""Secrets and access: AWS credentials come only from the Airflow connection, and none of
its secrets shows up in anything the pipeline writes.

The end-to-end run of tests/test_aws_pipeline.py (one per session, shared) gives its
DAGs AWS credentials only through ``AIRFLOW_CONN_AWS_DEFAULT``: an access key id, a
secret key and a session token that all hold a canary string, and no ``AWS_*``
variables, credential files or instance metadata. Everything that run left behind is
then scanned for the canary: the task logs, the Airflow database (XComs, rendered
templates, serialized DAGs, runs, task instances, audit log: every table), the DAGs'
params and task arguments, every object in the moto S3 buckets (results, state, alert
records), the local files, the requests sent to AWS and the SNS messages.
"""
from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import sqlite3
import zlib
from pathlib import Path

import pytest
from aws_definitions import aws_definition
from l4m.dag_factory import detect_dag, setup_dag
from l4m.spec import parse_spec
from l4m.spec_time import SpecError
from test_aws_pipeline import CANARY, SECRETS, pipeline_run

# The test's own notion of a credential name (independent of spec_aws's check).
CREDENTIAL_NAME = re.compile(r"access.?key|secret|session.?token|password|credential",
                             re.IGNORECASE)


@pytest.fixture(scope="module")
def run(tmp_path_factory, pytestconfig):
    return pipeline_run(tmp_path_factory, pytestconfig)


def _text(value: object) -> str:
    """A database value as text: zlib-compressed blobs (serialized DAGs) expanded."""
    if isinstance(value, bytes):
        try:
            value = zlib.decompress(value)
        except zlib.error:
            pass
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def database(path: Path) -> dict[str, list[str]]:
    """Every row of every table of the Airflow database, as text, by table."""
    with sqlite3.connect(path) as db:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: [" ".join(map(_text, row)) for row in db.execute(f'SELECT * FROM "{t}"')]
                for t in tables}


def s3_objects(s3) -> dict[str, str]:
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"])
        for item in (i for page in pages for i in page.get("Contents", [])):
            body = s3.get_object(Bucket=bucket["Name"], Key=item["Key"])["Body"].read()
            found[f"s3://{bucket['Name']}/{item['Key']}"] = _text(body)
    return found


def dag_arguments(definition: Path) -> dict[str, str]:
    """The DAGs of the run's definition: their params and each task's templated fields."""
    spec = parse_spec(json.loads(definition.read_text()))
    dags = [setup_dag(spec, str(definition)), detect_dag(spec, str(definition))]
    return {dag.dag_id: json.dumps({"params": dag.params.dump(), "tasks": {
        t.task_id: {f: getattr(t, f) for f in t.template_fields} for t in dag.tasks}},
        default=str) for dag in dags}


@pytest.fixture(scope="module")
def outputs(run) -> dict[str, dict[str, str]]:
    """What the run left behind, by kind: {where: text}."""
    out = run["out"]
    home = out / "airflow"
    tables = database(home / "airflow.db")
    return {
        "task logs": {str(p): p.read_text(errors="replace") for p in
                      [out / "dag-runs.log", *(home / "logs").rglob("*")] if p.is_file()},
        "XComs": {"xcom": "\n".join(tables["xcom"])},
        "rendered templates": {"rtif": "\n".join(tables["rendered_task_instance_fields"])},
        "DAG params and task arguments": dag_arguments(out / "detectors" / "ecommerce.json"),
        "Airflow database": {t: "\n".join(rows) for t, rows in tables.items()},
        "S3 objects": s3_objects(run["clients"]["s3"]),
        "local files": {str(p): p.read_text(errors="replace") for p in out.rglob("*")
                        if p.is_file() and not p.name.startswith("airflow.db")},
        "requests sent to AWS": {"calls": json.dumps(run["calls"]),
                                 "quicksight": json.dumps(run["quicksight"], default=str)},
        "SNS messages": {f"message {i}": body for i, body in enumerate(run["alerts"])},
    }


def test_the_dags_get_aws_credentials_only_from_the_connection(run):
    env = run["env"]
    # No AWS_* variable but those pointing botocore's other sources at nothing.
    assert {k for k in env if k.startswith("AWS_")} == {
        "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_EC2_METADATA_DISABLED"}
    for key in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        assert not Path(env[key]).exists()
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    connection = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert connection["login"] == SECRETS["login"]
    # With no other source, every service the DAGs reached signed with the connection.
    reached = {c["service"] for c in run["calls"] if c["error"] is None}
    assert {"s3", "glue", "athena", "quicksight", "sns"} <= reached


def test_every_output_exists(outputs):
    """The scan below reads real outputs: each kind has content."""
    assert {kind for kind, found in outputs.items() if not any(found.values())} == set()
    logs = "\n".join(outputs["task logs"].values())
    assert all(task in logs for task in ("detect_anomalies", "send_alerts", "crawl_tables"))
    assert "interval_start" in outputs["rendered templates"]["rtif"]
    assert '"backtest"' in outputs["DAG params and task arguments"]["l4m_ecommerce_setup"]
    assert any(k.startswith("s3://l4m/results/alerts/") for k in outputs["S3 objects"])


def test_no_secret_of_the_connection_shows_up_anywhere(outputs):
    assert all(CANARY in value.lower() for value in SECRETS.values())
    leaks = [f"{kind}: {where}" for kind, found in outputs.items()
             for where, text in found.items() if CANARY in text.lower()]
    assert leaks == []


def _airflow_classes():
    """The provider's operators, sensors, hooks, triggers and notifiers."""
    for package in ("operators", "sensors", "hooks", "triggers", "notifications"):
        module = importlib.import_module(f"l4m.{package}")
        for info in pkgutil.iter_modules(module.__path__):
            found = importlib.import_module(f"l4m.{package}.{info.name}")
            yield from (c for _, c in inspect.getmembers(found, inspect.isclass)
                        if c.__module__ == found.__name__)


def test_no_operator_hook_or_trigger_takes_credentials():
    classes = list(_airflow_classes())
    assert len(classes) >= 10
    taking = [f"{c.__module__}.{c.__name__}({name})" for c in classes
              for name in inspect.signature(c.__init__).parameters
              if CREDENTIAL_NAME.search(name)]
    assert taking == []


SECRET = "l4mcanary-wJalrXUtnFEMI-K7MDENG"


@pytest.mark.parametrize("where, field", [
    (("Aws", "BotocoreConfig"), "aws_secret_access_key"),
    (("Aws",), "AccessKeyId"),
    (("Aws",), "SessionToken"),
    ((), "AwsSecretAccessKey"),
    (("Publish", "QuickSight"), "Credentials"),
])
def test_a_definition_carrying_credentials_is_refused_naming_the_field(where, field):
    doc = aws_definition()
    section = doc
    for key in where:
        section = section.setdefault(key, {})
    section[field] = SECRET
    with pytest.raises(SpecError) as refused:
        parse_spec(doc)
    message = str(refused.value)
    assert message.startswith(".".join([*where, field]) + ":")
    assert SECRET not in message
    if where[:1] == ("Aws",):          # where one would look for AWS settings: say where to
        assert "the Airflow connection named by Aws.ConnId" in message
