"""Alerts: L4M's payload shape (SEED-SYSTEM §3), filters, and delivery through SNS and Lambda."""
from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import boto3
import pytest
from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook
from l4m import runner
from l4m.alerts import (
    alert_event_id,
    alert_payloads,
    missing_data_payload,
    sns_message,
    zoned_timestamp,
)
from l4m.compat import DAG
from l4m.hooks.alerts import AlertDeliveryError
from l4m.intervals import utc_epoch
from l4m.notifications.alerts import L4MAlertNotifier
from l4m.operators.alerts import SendAlertsOperator
from l4m.spec import parse_spec
from l4m.synth import write_dataset
from moto import mock_aws

ACCOUNT = "123456789012"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:l4m-alerts"
FUNCTION = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:l4m-alerts"
T0 = dt.datetime(2021, 2, 14, 4, tzinfo=dt.timezone.utc)
EPOCH = int(T0.timestamp())
STAMP = "20210214_040000"
GROUP_ID = "0b5bde3c-47c5-5a34-9c4b-2c0ba1a3f0a1"
EVENT_ID = re.compile(
    rf"arn:aws:lookoutmetrics:us-east-1:{ACCOUNT}:Alert:(?P<name>[\w-]+):event/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def sns_alert(name="revenue-alert", threshold=70, fmt="JSON", **extra) -> dict:
    return {"AlertName": name, "AlertSensitivityThreshold": threshold,
            "Action": {"SNSConfiguration": {"SnsTopicArn": TOPIC, "SnsFormat": fmt}}, **extra}


def lambda_alert(name="lambda-alert", threshold=70, **extra) -> dict:
    return {"AlertName": name, "AlertSensitivityThreshold": threshold,
            "Action": {"LambdaConfiguration": {"LambdaArn": FUNCTION}}, **extra}


def document(alerts: list[dict], results: Path | None = None, timezone: str = "UTC") -> dict:
    doc = {
        "AnomalyDetectorName": "ecommerce",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"},
                           {"MetricName": "revenue", "AggregationFunction": "SUM"}],
            "DimensionList": ["marketplace", "platform"],
            "TimestampColumn": {"ColumnName": "timestamp",
                                "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "Timezone": timezone,
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": ["s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"]}},
        },
        "Alerts": alerts,
    }
    if results is not None:
        doc["Storage"] = {"ResultsPath": f"file://{results}"}
    return doc


def series(marketplace: str, platform: str, values: list) -> dict:
    return {"TimeSeriesId": f"{marketplace}-{platform}-id",
            "DimensionList": [{"DimensionName": "marketplace", "DimensionValue": marketplace},
                              {"DimensionName": "platform", "DimensionValue": platform}],
            "MetricValueList": values}


def group(measure="revenue", score=86.78, gid=GROUP_ID, time_series=None) -> dict:
    """One line of an anomalyGroups file (describe_group's shape): 03:00 and 04:00 UTC."""
    time_series = time_series or [series("it", "pc_web", [140.0, 148.5]),
                                  series("fr", "pc_web", [90.25, None])]
    return {
        "AnomalyGroup": {
            "StartTime": "2021-02-14T03:00:00Z", "EndTime": "2021-02-14T04:00:00Z",
            "AnomalyGroupId": gid, "AnomalyGroupScore": score, "PrimaryMetricName": measure,
            "MetricLevelImpactList": [{
                "MetricName": measure, "NumTimeSeries": len(time_series),
                "ContributionMatrix": {"DimensionContributionList": [
                    {"DimensionName": "marketplace", "DimensionValueContributionList": [
                        {"DimensionValue": "it", "ContributionScore": 73.0},
                        {"DimensionValue": "fr", "ContributionScore": 27.0}]},
                    {"DimensionName": "platform", "DimensionValueContributionList": [
                        {"DimensionValue": "pc_web", "ContributionScore": 100.0}]}]}}]},
        "InterMetricImpactList": [],
        "AnomalyGroupTimeSeries": {
            "AnomalyGroupId": gid, "MetricName": measure,
            "TimestampList": ["2021-02-14T03:00:00Z", "2021-02-14T04:00:00Z"],
            "TimeSeriesList": time_series},
    }


def payloads(alert: dict, groups: list[dict], epoch: int = EPOCH, **doc) -> list[dict]:
    spec = parse_spec(document([alert], **doc))
    return alert_payloads(spec, spec.alerts[0], groups, interval_epoch=epoch)


# ---------------------------------------------------------------------------- payloads


def test_payload_has_exactly_the_seed_shape():
    [payload] = payloads(sns_alert(), [group()])
    assert list(payload) == ["alertName", "alertEventId", "anomalyDetectorArn", "alertArn",
                             "alertDescription", "impactedMetric", "timestamp", "anomalyScore"]
    assert EVENT_ID.fullmatch(payload["alertEventId"])["name"] == "revenue-alert"
    assert payload == {
        "alertName": "revenue-alert",
        "alertEventId": payload["alertEventId"],
        "anomalyDetectorArn": f"arn:aws:lookoutmetrics:us-east-1:{ACCOUNT}:AnomalyDetector:ecommerce",
        "alertArn": f"arn:aws:lookoutmetrics:us-east-1:{ACCOUNT}:Alert:revenue-alert",
        "alertDescription": None,
        "impactedMetric": {
            "metricName": "revenue",
            "dimensionContribution": [
                {"dimensionName": "marketplace", "dimensionValueContributions": [
                    {"dimensionValue": "it", "valueContribution": 73.0},
                    {"dimensionValue": "fr", "valueContribution": 27.0}]},
                {"dimensionName": "platform", "dimensionValueContributions": [
                    {"dimensionValue": "pc_web", "valueContribution": 100.0}]}],
            "relevantTimeSeries": [  # fr/pc_web was anomalous at 03:00 only
                {"timeSeriesId": "it-pc_web-id", "dimensions": [
                    {"dimensionName": "marketplace", "dimensionValue": "it"},
                    {"dimensionName": "platform", "dimensionValue": "pc_web"}],
                 "metricValue": 148.5}],
        },
        "timestamp": "2021-02-14T04:00Z[UTC]",
        "anomalyScore": 86.78,
    }
    assert json.loads(json.dumps(payload)) == payload


def test_payload_at_an_earlier_interval_of_the_group_lists_its_series_then():
    [payload] = payloads(sns_alert(), [group()], EPOCH - 3600)
    values = {s["timeSeriesId"]: s["metricValue"]
              for s in payload["impactedMetric"]["relevantTimeSeries"]}
    assert values == {"it-pc_web-id": 140.0, "fr-pc_web-id": 90.25}
    assert payload["timestamp"] == "2021-02-14T03:00Z[UTC]"
    assert payloads(sns_alert(), [group()], EPOCH + 3600) == []  # not in the group


def test_description_arns_from_the_lambda_action():
    alert = lambda_alert(AlertDescription="Severe revenue anomalies")
    alert["Action"]["LambdaConfiguration"]["LambdaArn"] = (
        "arn:aws-cn:lambda:cn-north-1:210987654321:function:x")
    [payload] = payloads(alert, [group()])
    assert payload["alertDescription"] == "Severe revenue anomalies"
    assert payload["alertArn"] == "arn:aws-cn:lookoutmetrics:cn-north-1:210987654321:Alert:lambda-alert"
    assert payload["anomalyDetectorArn"].startswith("arn:aws-cn:lookoutmetrics:cn-north-1:210987654321:")
    assert payload["alertEventId"].startswith(payload["alertArn"] + ":event/")


@pytest.mark.parametrize(("threshold", "sent"), [(0, 1), (86, 1), (87, 0), (100, 0)])
def test_threshold_boundary(threshold, sent):
    assert len(payloads(sns_alert(threshold=threshold), [group(score=86.78)])) == sent
    assert len(payloads(sns_alert(threshold=threshold), [group(score=float(threshold))])) == 1
    if threshold:
        assert payloads(sns_alert(threshold=threshold), [group(score=threshold - 0.01)]) == []


def test_metric_list_filter():
    groups = [group("views", gid="a"), group("revenue", gid="b")]
    names = {p["impactedMetric"]["metricName"]
             for p in payloads(sns_alert(AlertFilters={"MetricList": ["views"]}), groups)}
    assert names == {"views"}
    assert len(payloads(sns_alert(), groups)) == 2


def test_dimension_filter_keeps_matching_series_and_drops_groups_without_any():
    time_series = [series("it", "pc_web", [None, 148.5]), series("fr", "mobile_app", [None, 9.5]),
                   series("it", "mobile_app", [None, 12.0])]
    filters = {"DimensionFilterList": [
        {"DimensionName": "marketplace", "DimensionValueList": ["it", "de"]},
        {"DimensionName": "platform", "DimensionValueList": ["mobile_app"]}]}
    [payload] = payloads(sns_alert(AlertFilters=filters), [group(time_series=time_series)])
    assert [s["timeSeriesId"] for s in payload["impactedMetric"]["relevantTimeSeries"]] == [
        "it-mobile_app-id"]
    # contributions are the whole group's, as in the dimensionContributions table
    assert payload["impactedMetric"]["dimensionContribution"][0]["dimensionValueContributions"][1] == {
        "dimensionValue": "fr", "valueContribution": 27.0}
    only_de = {"DimensionFilterList": [{"DimensionName": "marketplace",
                                        "DimensionValueList": ["de"]}]}
    assert payloads(sns_alert(AlertFilters=only_de), [group(time_series=time_series)]) == []


def test_event_id_is_deterministic_and_distinct():
    first = payloads(sns_alert(), [group(), group("views", gid="other")])
    assert [p["alertEventId"] for p in first] == [
        p["alertEventId"] for p in payloads(sns_alert(), [group(), group("views", gid="other")])]
    earlier = payloads(sns_alert(), [group()], EPOCH - 3600)
    other_alert = payloads(sns_alert(name="other-alert"), [group()])
    ids = {p["alertEventId"] for p in first + earlier + other_alert}
    assert len(ids) == 4 and all(EVENT_ID.fullmatch(i) for i in ids)


@pytest.mark.parametrize(("epoch", "zone", "text"), [
    (EPOCH, "UTC", "2021-02-14T04:00Z[UTC]"),
    (EPOCH, "Europe/Paris", "2021-02-14T05:00+01:00[Europe/Paris]"),
    (EPOCH + 90, "America/New_York", "2021-02-13T23:01:30-05:00[America/New_York]"),
    (EPOCH, "Asia/Kolkata", "2021-02-14T09:30+05:30[Asia/Kolkata]"),
    (EPOCH, "Europe/London", "2021-02-14T04:00Z[Europe/London]"),
])
def test_timestamp_is_java_zoned_date_time(epoch, zone, text):
    assert zoned_timestamp(epoch, zone) == text


def test_payload_timestamp_uses_the_detector_timezone():
    [payload] = payloads(sns_alert(), [group()], timezone="Europe/Paris")
    assert payload["timestamp"] == "2021-02-14T05:00+01:00[Europe/Paris]"


@pytest.mark.parametrize("value", [T0, "2021-02-14T04:00:00+00:00", "2021-02-14 05:00:00+01:00",
                                   "2021-02-14T04:00:00Z", "2021-02-14T04:00:00"])
def test_interval_start_forms(value):
    assert utc_epoch(value) == EPOCH


def test_missing_data_payload():
    spec = parse_spec(document([sns_alert(AlertDescription="Revenue alerts")]))
    payload = missing_data_payload(spec, spec.alerts[0], interval_epoch=EPOCH,
                                   paths=["s3://bucket/ecommerce/live/20210214/0400"])
    assert list(payload) == ["alertName", "alertEventId", "anomalyDetectorArn", "alertArn",
                             "alertDescription", "alertType", "missingPaths", "timestamp"]
    assert payload["alertType"] == "DATA_MISSING"
    assert payload["missingPaths"] == ["s3://bucket/ecommerce/live/20210214/0400"]
    assert payload["timestamp"] == "2021-02-14T04:00Z[UTC]"
    assert payload["alertDescription"] == "Revenue alerts"
    assert EVENT_ID.fullmatch(payload["alertEventId"])
    assert payload["alertEventId"] == missing_data_payload(
        spec, spec.alerts[0], interval_epoch=EPOCH, paths=[])["alertEventId"]


def test_sns_formats():
    spec = parse_spec(document([sns_alert("a", fmt="JSON"), sns_alert("b", fmt="LONG_TEXT"),
                                sns_alert("c", fmt="SHORT_TEXT")]))
    as_json, long_text, short_text = (
        sns_message(alert, alert_payloads(spec, alert, [group()], interval_epoch=EPOCH)[0])
        for alert in spec.alerts)
    assert json.loads(as_json[1])["impactedMetric"]["metricName"] == "revenue"
    assert long_text[0] == "L4M alert b: anomaly in revenue at 2021-02-14T04:00Z[UTC]"
    assert "  marketplace: it 73.0, fr 27.0" in long_text[1].splitlines()
    assert "  marketplace=it, platform=pc_web: revenue = 148.5" in long_text[1].splitlines()
    assert short_text[1] == (
        "L4M alert c: revenue anomaly at 2021-02-14T04:00Z[UTC], score 86.78, 1 time series, "
        "top: marketplace=it (73.0%), platform=pc_web (100.0%)")
    assert all(len(subject) <= 100 and "\n" not in subject
               for subject, _ in (as_json, long_text, short_text))
    missing = missing_data_payload(spec, spec.alerts[2], interval_epoch=EPOCH, paths=["s3://x/y"])
    assert sns_message(spec.alerts[2], missing)[1] == (
        "L4M alert c: data missing for 2021-02-14T04:00Z[UTC] at s3://x/y")
    assert "  s3://x/y" in sns_message(spec.alerts[1], missing)[1].splitlines()


# ---------------------------------------------------------------------------- AWS (moto)


@pytest.fixture
def aws(monkeypatch):
    """moto's SNS, SQS and non-docker Lambda, with an ``aws_default`` connection."""
    for key, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
                       "AWS_SESSION_TOKEN": "testing",
                       "AIRFLOW_CONN_AWS_DEFAULT": '{"conn_type": "aws"}'}.items():
        monkeypatch.setenv(key, value)
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


@pytest.fixture
def queue(aws):
    """An SQS queue subscribed to TOPIC; returns a function that drains it (SNS unwrapped)."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    assert sns.create_topic(Name="l4m-alerts")["TopicArn"] == TOPIC
    url = sqs.create_queue(QueueName="l4m-alerts")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=TOPIC, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])

    def drain() -> list[dict]:
        out = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
                "Messages"):
            for message in messages:
                envelope = json.loads(message["Body"])
                assert envelope["TopicArn"] == TOPIC
                out.append(envelope)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out

    return drain


@pytest.fixture
def invocations(aws, monkeypatch):
    """Create FUNCTION; returns the (arguments, response) of each LambdaHook.invoke_lambda."""
    role = boto3.client("iam").create_role(RoleName="l4m-alerts", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    created = boto3.client("lambda").create_function(
        FunctionName="l4m-alerts", Runtime="python3.11", Role=role["Role"]["Arn"],
        Handler="handler.handler", Code={"ZipFile": code.getvalue()})
    assert created["FunctionArn"] == FUNCTION
    calls = []
    invoke = LambdaHook.invoke_lambda

    def recording_invoke(self, **kwargs):
        response = invoke(self, **kwargs)
        calls.append((kwargs, response))
        return response

    monkeypatch.setattr(LambdaHook, "invoke_lambda", recording_invoke)
    return calls


def write_definition(tmp_path: Path, doc: dict) -> str:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(doc))
    return str(path)


def write_groups(results: Path, groups: list[dict], stamp: str = STAMP) -> None:
    path = results / "anomalyGroups" / f"{stamp}_anomalyGroups.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(g, sort_keys=True) + "\n" for g in groups))


def run(definition: str, interval_start=T0, **kwargs) -> dict:
    op = SendAlertsOperator(task_id="send_alerts", definition=definition,
                            interval_start=interval_start, **kwargs)
    return op.execute(context={})


def test_sns_alert_reaches_a_subscribed_queue_once(tmp_path, queue):
    results = tmp_path / "results"
    doc = document([sns_alert(threshold=80, AlertFilters={"MetricList": ["revenue", "views"]})],
                   results)
    definition = write_definition(tmp_path, doc)
    groups = [group("revenue", 86.78, "g-revenue"), group("views", 79.99, "g-views")]
    write_groups(results, groups)

    counts = run(definition, interval_start="2021-02-14T04:00:00+00:00")
    assert counts == {"groups": 2, "anomaly_alerts_sent": 1, "data_missing_alerts_sent": 0,
                      "already_sent": 0}
    [envelope] = queue()
    spec = parse_spec(doc)
    expected = alert_payloads(spec, spec.alerts[0], groups[:1], interval_epoch=EPOCH)
    assert [json.loads(envelope["Message"])] == expected
    assert envelope["Subject"] == "L4M alert revenue-alert: anomaly in revenue at 2021-02-14T04:00Z[UTC]"
    assert envelope["MessageAttributes"] == {  # for subscribers that deduplicate
        "alertEventId": {"Type": "String", "Value": expected[0]["alertEventId"]}}
    record = [json.loads(line) for line in
              (results / "alerts" / f"{STAMP}_alerts.jsonl").read_text().splitlines()]
    assert record == [{"alertName": "revenue-alert", "alertEventId": expected[0]["alertEventId"],
                       "target": TOPIC, "status": "sent", "payload": expected[0]}]

    assert run(definition)["already_sent"] == 1  # a cleared/retried task: nothing new
    assert queue() == []


def test_lambda_alert_is_invoked_with_the_payload(tmp_path, invocations):
    results = tmp_path / "results"
    alert = lambda_alert(threshold=50, AlertFilters={"DimensionFilterList": [
        {"DimensionName": "marketplace", "DimensionValueList": ["it"]}]})
    doc = document([alert], results)
    definition = write_definition(tmp_path, doc)
    only_fr = [series("fr", "pc_web", [None, 3.0])]
    write_groups(results, [group(gid="g1"), group("views", 40.0, "g2"),
                           group("views", 99.0, "g3", only_fr)])

    assert run(definition)["anomaly_alerts_sent"] == 1
    [(arguments, response)] = invocations
    assert arguments["function_name"] == FUNCTION
    assert arguments["invocation_type"] == "Event"
    assert response["StatusCode"] == 202
    spec = parse_spec(doc)
    # moto's non-docker Lambda answers with the event it received
    received = json.loads(response["Payload"].read())
    assert received == alert_payloads(spec, spec.alerts[0], [group(gid="g1")],
                                      interval_epoch=EPOCH)[0]
    assert run(definition) == {"groups": 3, "anomaly_alerts_sent": 0,
                               "data_missing_alerts_sent": 0, "already_sent": 1}
    assert len(invocations) == 1


def test_no_group_file_sends_nothing(tmp_path, queue):
    definition = write_definition(tmp_path, document([sns_alert()], tmp_path / "results"))
    assert run(definition) == {"groups": 0, "anomaly_alerts_sent": 0,
                               "data_missing_alerts_sent": 0, "already_sent": 0}
    assert queue() == []
    assert not (tmp_path / "results" / "alerts").exists()


def test_missing_data_file_sends_data_missing_to_every_alert(tmp_path, queue, invocations):
    results = tmp_path / "results"
    definition = write_definition(tmp_path, document([sns_alert(), lambda_alert()], results))
    missing = results / "missingData" / f"{STAMP}_missingData.json"
    missing.parent.mkdir(parents=True)
    missing.write_text(json.dumps({"paths": ["s3://bucket/ecommerce/live/20210214/0400"]}))

    assert run(definition, send_missing_data_alerts=False)["data_missing_alerts_sent"] == 0
    assert run(definition)["data_missing_alerts_sent"] == 2
    [envelope] = queue()
    payload = json.loads(envelope["Message"])
    assert payload["alertType"] == "DATA_MISSING"
    assert payload["missingPaths"] == ["s3://bucket/ecommerce/live/20210214/0400"]
    [(_, response)] = invocations
    assert json.loads(response["Payload"].read())["alertName"] == "lambda-alert"
    assert run(definition)["already_sent"] == 2


def test_notifier_sends_data_missing_and_shares_the_record(tmp_path, queue, invocations):
    results = tmp_path / "results"
    definition = write_definition(tmp_path, document([sns_alert(), lambda_alert()], results))
    notifier = L4MAlertNotifier(definition=definition, alert_name="revenue-alert")
    dag = DAG("notifier_test", schedule=None, start_date=dt.datetime(2021, 1, 1))
    notifier({"dag": dag, "data_interval_start": T0})  # as Airflow calls a failure callback
    [envelope] = queue()
    payload = json.loads(envelope["Message"])
    assert payload["missingPaths"] == ["s3://bucket/ecommerce/live/20210214/0400"]
    assert payload["alertName"] == "revenue-alert" and invocations == []

    missing = results / "missingData" / f"{STAMP}_missingData.json"
    missing.parent.mkdir(parents=True)
    missing.write_text(json.dumps({"AnomalyDetectorName": "ecommerce",  # the sensor's record
                                   "IntervalStart": "2021-02-14T04:00:00Z",
                                   "Deadline": "2021-02-14T06:00:00Z", "Paths": ["x"]}))
    counts = run(definition)  # only the Lambda alert's event is new
    assert (counts["data_missing_alerts_sent"], counts["already_sent"]) == (1, 1)
    assert queue() == [] and len(invocations) == 1

    with pytest.raises(ValueError, match="no alert 'nope'"):
        L4MAlertNotifier(definition=definition, alert_name="nope", interval_start=T0).notify({})


def test_a_failed_send_keeps_the_record_of_the_others(tmp_path, queue, invocations, monkeypatch):
    results = tmp_path / "results"
    definition = write_definition(tmp_path, document([sns_alert(), lambda_alert()], results))
    write_groups(results, [group()])
    working = LambdaHook.invoke_lambda

    def lambda_down(self, **kwargs):
        raise RuntimeError("Lambda is down")

    monkeypatch.setattr(LambdaHook, "invoke_lambda", lambda_down)
    with pytest.raises(AlertDeliveryError,
                       match=f"1 of 2 .*alert lambda-alert to {FUNCTION}: RuntimeError: "
                             "Lambda is down"):
        run(definition)
    assert len(queue()) == 1
    record = results / "alerts" / f"{STAMP}_alerts.jsonl"
    sent, pending = map(json.loads, record.read_text().splitlines())
    assert (sent["target"], sent["status"]) == (TOPIC, "sent")
    assert (pending["target"], pending["status"]) == (FUNCTION, "pending")
    assert pending["error"] == "RuntimeError: Lambda is down"

    monkeypatch.setattr(LambdaHook, "invoke_lambda", working)
    counts = run(definition)  # the retry sends only what failed
    assert (counts["anomaly_alerts_sent"], counts["already_sent"]) == (1, 1)
    assert queue() == [] and len(invocations) == 1
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(e["target"], e["status"]) for e in lines] == [(TOPIC, "sent"), (FUNCTION, "sent")]
    assert "error" not in lines[1] and lines[1]["payload"] == pending["payload"]


def test_a_record_of_the_previous_version_counts_as_sent(tmp_path, queue, invocations):
    results = tmp_path / "results"
    definition = write_definition(tmp_path, document([sns_alert(), lambda_alert()], results))
    write_groups(results, [group()])
    spec = parse_spec(document([sns_alert(), lambda_alert()]))
    [payload] = alert_payloads(spec, spec.alerts[0], [group()], interval_epoch=EPOCH)
    old = {"alertName": "revenue-alert", "alertEventId": payload["alertEventId"],
           "target": TOPIC, "payload": payload}          # no status: written before it existed
    record = results / "alerts" / f"{STAMP}_alerts.jsonl"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps(old) + "\n")
    assert run(definition) == {"groups": 1, "anomaly_alerts_sent": 1,
                               "data_missing_alerts_sent": 0, "already_sent": 1}
    assert queue() == [] and len(invocations) == 1
    first, second = map(json.loads, record.read_text().splitlines())
    assert first == old and (second["target"], second["status"]) == (FUNCTION, "sent")


# ---------------------------------------------------------------------------- real engine output


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[dict, Path, Path]:
    """A replay of 20 synthetic days: (definition document, results folder, input CSV)."""
    root = tmp_path_factory.mktemp("alerts-replay")
    paths = write_dataset(root / "data", days=20)
    doc = json.loads(paths.definition.read_text())
    doc["Storage"] = {"ResultsPath": f"file://{root / 'results'}"}
    spec = parse_spec(doc)
    runner.replay(spec, runner.read_input(spec, str(paths.backtest_input)), root / "results")
    return doc, root / "results", paths.backtest_input


def marketplace(dimensions: list[dict]) -> str:
    return next(d["DimensionValue"] for d in dimensions if d["DimensionName"] == "marketplace")


def test_alerts_from_a_replay(tmp_path, queue, replayed):
    base, results, input_csv = replayed
    doc = copy.deepcopy(base)
    doc["Alerts"] = [sns_alert("views-us-it", threshold=50, AlertFilters={
        "MetricList": ["views"],
        "DimensionFilterList": [{"DimensionName": "marketplace",
                                 "DimensionValueList": ["us", "it"]}]})]
    definition = write_definition(tmp_path, doc)
    group_files = sorted((results / "anomalyGroups").glob("*_anomalyGroups.jsonl"))[:40]
    assert len(group_files) == 40  # each send creates a boto3 client: ~0.4 s

    spec = parse_spec(doc)
    expected, below, outside = set(), 0, 0
    for path in group_files:
        start = dt.datetime.strptime(path.name[:15], "%Y%m%d_%H%M%S")
        stamp = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        for line in path.read_text().splitlines():
            g = json.loads(line)
            at = g["AnomalyGroupTimeSeries"]["TimestampList"].index(stamp)
            kept = [s for s in g["AnomalyGroupTimeSeries"]["TimeSeriesList"]
                    if s["MetricValueList"][at] is not None
                    and marketplace(s["DimensionList"]) in ("us", "it")]
            if g["AnomalyGroup"]["AnomalyGroupScore"] < 50:
                below += 1
            elif g["AnomalyGroup"]["PrimaryMetricName"] == "views" and kept:
                epoch = utc_epoch(start)
                expected.add(alert_event_id(spec, spec.alerts[0], g["AnomalyGroup"]["AnomalyGroupId"], epoch))
            else:
                outside += 1
        run(definition, interval_start=start.isoformat())
    assert expected and below and outside  # the data exercises every case

    received = [json.loads(e["Message"]) for e in queue()]
    assert {payload["alertEventId"] for payload in received} == expected
    assert len(received) == len(expected)
    values = {(r["platform"], r["marketplace"], r["timestamp"]): float(r["views"])
              for r in csv.DictReader(input_csv.open())}
    for payload in received:
        assert payload["anomalyScore"] >= 50
        assert payload["impactedMetric"]["metricName"] == "views"
        when = payload["timestamp"].removesuffix("Z[UTC]")
        for s in payload["impactedMetric"]["relevantTimeSeries"]:
            dims = {d["dimensionName"]: d["dimensionValue"] for d in s["dimensions"]}
            assert dims["marketplace"] in ("us", "it")
            key = (dims["platform"], dims["marketplace"], when.replace("T", " ") + ":00")
            assert s["metricValue"] == values[key]

    for path in group_files:  # the whole schedule cleared and rerun: nothing new
        start = dt.datetime.strptime(path.name[:15], "%Y%m%d_%H%M%S")
        assert run(definition, interval_start=start)["anomaly_alerts_sent"] == 0
    assert queue() == []
