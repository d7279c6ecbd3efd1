"""The definition's AWS sections: defaults, and errors that name the field."""
from __future__ import annotations

import json

import pytest
from aws_definitions import ANALYST, ECOMMERCE, aws_definition
from l4m.spec import SpecError, parse_spec

BASE = json.loads(ECOMMERCE.read_text())
USER = ANALYST


def doc(publish: dict | None = None, **top) -> dict:
    """The AWS test definition; ``publish`` replaces its whole Publish section."""
    return aws_definition(**top) if publish is None else aws_definition(Publish=publish, **top)


def test_defaults_follow_the_seed():
    aws = parse_spec(doc()).pipeline.aws
    assert aws.connection.conn_id == "aws_default"
    assert aws.glue.database == "l4m-crawler-output-db"
    assert aws.glue.crawler == "l4m-ecommerce-crawler"
    assert aws.athena.work_group == "primary"
    qs = aws.quicksight
    assert (qs.data_source_id, qs.live_data_set_id, qs.contributions_data_set_id) == (
        "L4MQuickSightDataSourceId", "L4MQuickSightDataSetWithLiveData",
        "L4MQuickSightDataSetWithDimensionContributions")
    assert qs.import_mode == "DIRECT_QUERY" and qs.principals == (USER,)


def test_local_definitions_have_no_aws_publishing():
    assert parse_spec(BASE).pipeline.aws.glue is None


def test_connection_section():
    aws = parse_spec(doc(Aws={"ConnId": "prod_aws", "RegionName": "eu-west-1",
                              "BotocoreConfig": {"retries": {"mode": "adaptive"}}})).pipeline.aws
    assert aws.connection.conn_id == "prod_aws"
    assert aws.connection.region_name == "eu-west-1"
    assert aws.connection.botocore_config == {"retries": {"mode": "adaptive"}}


GLUE = {"RoleArn": "arn:aws:iam::123456789012:role/l4m-crawler"}
QS = {"AwsAccountId": "123456789012", "Users": [USER]}


@pytest.mark.parametrize("document, field", [
    (doc({"Glue": {}}), "Publish.Glue.RoleArn"),
    (doc({"Glue": {**GLUE, "RoleArn": "l4m-crawler"}}), "Publish.Glue.RoleArn"),
    (doc({"Glue": {**GLUE, "DatabaseName": "Bad Name"}}), "Publish.Glue.DatabaseName"),
    (doc({"Glue": {**GLUE, "RecrawlPolicy": "SOMETIMES"}}), "Publish.Glue.RecrawlPolicy"),
    (doc({"Glue": {**GLUE, "Crawler": "x"}}), "Publish.Glue.Crawler"),
    (doc({"Athena": {}}), "Publish.Athena"),
    (doc({"Glue": GLUE, "Athena": {"OutputLocation": "/tmp/x"}}),
     "Publish.Athena.OutputLocation"),
    (doc({"QuickSight": QS}), "Publish.QuickSight"),
    (doc({"Glue": GLUE, "QuickSight": {**QS, "AwsAccountId": "12345"}}),
     "Publish.QuickSight.AwsAccountId"),
    (doc({"Glue": GLUE, "QuickSight": {"AwsAccountId": "123456789012"}}),
     "Publish.QuickSight.Users"),
    (doc({"Glue": GLUE, "QuickSight": {**QS, "Users": ["alice"]}}),
     "Publish.QuickSight.Users[0]"),
    (doc({"Glue": GLUE, "QuickSight": {**QS, "ImportMode": "FAST"}}),
     "Publish.QuickSight.ImportMode"),
    (doc({"Glue": GLUE, "QuickSight": {**QS, "DashboardId": "no spaces"}}),
     "Publish.QuickSight.DashboardId"),
    (doc(Aws={"RegionName": "mars"}), "Aws.RegionName"),
    (doc(Aws={"BotocoreConfig": {"proxies": {}}}), "Aws.BotocoreConfig.proxies"),
    (doc(Storage={"ResultsPath": "file:///tmp/results"}), "Storage.ResultsPath"),
    (doc(Storage={"ResultsPath": "s3:///results"}), "Storage.ResultsPath"),
    (doc(Storage={"ResultsPath": "s3://l4m/results", "StatePath": "s3:///state"}),
     "Storage.StatePath"),
])
def test_bad_aws_sections_name_the_field(document, field):
    with pytest.raises(SpecError) as err:
        parse_spec(document)
    assert err.value.field == field, str(err.value)


def test_glue_needs_the_live_data_in_an_s3_live_folder():
    bad = doc()
    bad["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [
        "s3://l4m/ecommerce/incoming/{{yyyyMMdd}}/{{HHmm}}"]
    with pytest.raises(SpecError, match="live"):
        parse_spec(bad)
    bad["MetricSet"]["MetricSource"]["S3SourceConfig"]["TemplatedPathList"] = [
        "file:///data/ecommerce/live/{{yyyyMMdd}}"]
    with pytest.raises(SpecError, match="s3://"):
        parse_spec(bad)
