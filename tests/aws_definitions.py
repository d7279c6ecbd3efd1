"""Detector definitions that publish on AWS, for tests (import: ``from aws_definitions import …``).

:func:`aws_definition` is ``dags/detectors/ecommerce.json`` moved to S3 with the Glue,
Athena and QuickSight publishing sections; :func:`odd_definition` has three measures and
one dimension with unusual names (and another timestamp column and format), to show
that nothing downstream is written for the ecommerce columns.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

ECOMMERCE = Path(__file__).resolve().parents[1] / "dags" / "detectors" / "ecommerce.json"
ACCOUNT = "123456789012"
ANALYST = f"arn:aws:quicksight:us-east-1:{ACCOUNT}:user/default/analyst"
CRAWLER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/l4m-crawler"


def aws_definition(*, glue: dict | None = None, athena: dict | None = None,
                   quicksight: dict | None = None, measures: list | None = None,
                   dimensions: list | None = None, timestamp: dict | None = None,
                   **top: object) -> dict:
    """The ecommerce definition published on AWS, as a fresh dict.

    ``glue``/``athena``/``quicksight`` update the ``Publish`` sections of those names
    (a key set to None is removed); ``measures`` (names, or ``(name, "SUM"|"AVG")``),
    ``dimensions`` and ``timestamp`` (a TimestampColumn) replace the metric set's; other
    keywords replace top-level keys of the document.
    """
    doc = json.loads(ECOMMERCE.read_text())
    metric_set = doc["MetricSet"]
    source = metric_set["MetricSource"]["S3SourceConfig"]
    source["TemplatedPathList"] = ["s3://l4m/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"]
    source["HistoricalDataPathList"] = ["s3://l4m/ecommerce/backtest/"]
    doc["Storage"] = {"ResultsPath": "s3://l4m/results", "StatePath": "s3://l4m/state"}
    doc["Publish"] = {"Glue": {"RoleArn": CRAWLER_ROLE},
                      "Athena": {"WorkGroup": "primary"},
                      "QuickSight": {"AwsAccountId": ACCOUNT, "Users": [ANALYST]}}
    for section, changes in (("Glue", glue), ("Athena", athena), ("QuickSight", quicksight)):
        for key, value in (changes or {}).items():
            if value is None:
                doc["Publish"][section].pop(key, None)
            else:
                doc["Publish"][section][key] = copy.deepcopy(value)
    if measures is not None:
        metric_set["MetricList"] = [
            {"MetricName": m, "AggregationFunction": "SUM"} if isinstance(m, str)
            else {"MetricName": m[0], "AggregationFunction": m[1]} for m in measures]
    if dimensions is not None:
        metric_set["DimensionList"] = list(dimensions)
    if timestamp is not None:
        metric_set["TimestampColumn"] = dict(timestamp)
    doc.update(copy.deepcopy(top))
    return doc


def odd_definition(**overrides: object) -> dict:
    """Three measures (one averaged, one taking the name ``event_time``) and one dimension
    with unusual names.

    Keyword arguments are those of :func:`aws_definition` and win over these.
    """
    odd: dict = {
        "AnomalyDetectorName": "Odd_Shop-2",
        "measures": ["Page-Hits", ("avg_Basket_EUR", "AVG"), "Event_Time"],
        "dimensions": ["9-Store_Region"],
        "timestamp": {"ColumnName": "When", "ColumnFormat": "yyyy/MM/dd HH:mm"},
    }
    odd.update(overrides)
    return aws_definition(**odd)
