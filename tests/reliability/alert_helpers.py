"""Alerts for the reliability tests: a definition with one anomaly group to alert on,
SNS topics with an SQS queue subscribed, and the deliveries those queues received."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

INTERVAL = "2021-02-14T04:00:00Z"
STAMP = "20210214_040000"


def group() -> dict:
    """One anomaly group of the interval, as the detector writes it."""
    series = {"TimeSeriesId": "it-pc_web",
              "DimensionList": [{"DimensionName": "marketplace", "DimensionValue": "it"}],
              "MetricValueList": [148.5]}
    return {"AnomalyGroup": {
        "StartTime": INTERVAL, "EndTime": INTERVAL, "AnomalyGroupId": "g-1",
        "AnomalyGroupScore": 86.78, "PrimaryMetricName": "revenue",
        "MetricLevelImpactList": [{"MetricName": "revenue", "NumTimeSeries": 1,
                                   "ContributionMatrix": {"DimensionContributionList": [
                                       {"DimensionName": "marketplace",
                                        "DimensionValueContributionList": [
                                            {"DimensionValue": "it",
                                             "ContributionScore": 100.0}]}]}}]},
        "InterMetricImpactList": [],
        "AnomalyGroupTimeSeries": {"AnomalyGroupId": "g-1", "MetricName": "revenue",
                                   "TimestampList": [INTERVAL], "TimeSeriesList": [series]}}


def write_definition(home: Path, targets: list[str], aws: dict | None = None) -> str:
    """A definition under ``home`` with one alert per target ARN (``alert-0``, …), its
    results in ``home/results`` holding the interval's anomaly group; returns its path."""
    actions = [{"LambdaConfiguration": {"LambdaArn": arn}} if ":lambda:" in arn
               else {"SNSConfiguration": {"SnsTopicArn": arn}} for arn in targets]
    doc = {
        "AnomalyDetectorName": "ecommerce",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": "revenue", "AggregationFunction": "SUM"}],
            "DimensionList": ["marketplace"],
            "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": ["s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"]}}},
        "Alerts": [{"AlertName": f"alert-{i}", "AlertSensitivityThreshold": 50,
                    "Action": action} for i, action in enumerate(actions)],
        "Storage": {"ResultsPath": f"file://{home}/results",
                    "StatePath": f"file://{home}/state"},
    }
    if aws:
        doc["Aws"] = aws
    groups = home / "results" / "anomalyGroups" / f"{STAMP}_anomalyGroups.jsonl"
    groups.parent.mkdir(parents=True, exist_ok=True)
    groups.write_text(json.dumps(group()) + "\n")
    definition = home / "definition.json"
    definition.write_text(json.dumps(doc))
    return str(definition)


def record(home: Path) -> Path:
    """The interval's alert record."""
    return home / "results" / "alerts" / f"{STAMP}_alerts.jsonl"


def subscribed_topic(sns, sqs, name: str, fifo: bool = False) -> tuple[str, str]:
    """(topic ARN, queue URL): a topic ``name`` (``name.fifo``) with a queue subscribed."""
    suffix = ".fifo" if fifo else ""
    topic = sns.create_topic(Name=name + suffix,
                             Attributes={"FifoTopic": "true"} if fifo else {})["TopicArn"]
    url = sqs.create_queue(QueueName=name + suffix,
                           Attributes={"FifoQueue": "true"} if fifo else {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"],
                  Attributes={"RawMessageDelivery": "true"})
    return topic, url


def deliveries(sqs, url: str) -> Counter:
    """How many times each alert event arrived in the queue (which is drained)."""
    found: Counter = Counter()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for message in messages:
            found[json.loads(message["Body"])["alertEventId"]] += 1
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found
