"""The least-privilege IAM policy of the Airflow execution role for one definition.

Each statement names the actions the code calls (the e2e test checks every recorded
call against this policy) on the exact resources of the definition: its S3 prefixes,
Glue database/tables/crawler, Athena work group, QuickSight ids, SNS topics and
Lambda functions. Region and account come from the definition (``Aws.RegionName``,
``Publish.QuickSight.AwsAccountId``, alert ARNs) or the arguments; ``*`` otherwise.
Pure functions.
"""
from __future__ import annotations

from l4m.locations import Locations, resolve
from l4m.spec import DetectorSpec
from l4m.spec_paths import live_root

S3_READ = ("s3:GetObject",)
S3_WRITE = ("s3:GetObject", "s3:PutObject")
S3_LIST = ("s3:ListBucket",)
# Athena writes query results with the caller's permissions.
ATHENA_OUTPUT = ("s3:GetBucketLocation", "s3:GetObject", "s3:PutObject", "s3:ListBucket",
                 "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")
GLUE_CRAWLER = ("glue:GetCrawler", "glue:CreateCrawler", "glue:UpdateCrawler",
                "glue:StartCrawler")
GLUE_CATALOG = ("glue:GetDatabase", "glue:CreateDatabase")
# CREATE OR REPLACE VIEW and queries over the tables (Athena acts with the caller's rights).
GLUE_TABLES = ("glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
               "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition")
ATHENA = ("athena:StartQueryExecution", "athena:GetQueryExecution")
QUICKSIGHT_DATA_SOURCE = ("quicksight:DescribeDataSource", "quicksight:CreateDataSource",
                          "quicksight:UpdateDataSource", "quicksight:PassDataSource",
                          "quicksight:DescribeDataSourcePermissions",
                          "quicksight:UpdateDataSourcePermissions")
QUICKSIGHT_DATA_SET = ("quicksight:DescribeDataSet", "quicksight:CreateDataSet",
                       "quicksight:UpdateDataSet", "quicksight:PassDataSet",
                       "quicksight:DescribeDataSetPermissions",
                       "quicksight:UpdateDataSetPermissions",
                       "quicksight:CreateIngestion", "quicksight:DescribeIngestion")
QUICKSIGHT_ANALYSIS = ("quicksight:DescribeAnalysis", "quicksight:DescribeAnalysisDefinition",
                       "quicksight:CreateAnalysis", "quicksight:UpdateAnalysis",
                       "quicksight:DescribeAnalysisPermissions",
                       "quicksight:UpdateAnalysisPermissions")
QUICKSIGHT_DASHBOARD = ("quicksight:DescribeDashboard", "quicksight:DescribeDashboardDefinition",
                        "quicksight:CreateDashboard", "quicksight:UpdateDashboard",
                        "quicksight:UpdateDashboardPublishedVersion",
                        "quicksight:DescribeDashboardPermissions",
                        "quicksight:UpdateDashboardPermissions")


def _bucket_key(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def _s3_statements(sid: str, urls: list[str], object_actions: tuple[str, ...]) -> list[dict]:
    """Object actions on ``<prefix>/*`` and ListBucket limited to those prefixes."""
    urls = sorted({u for u in urls if u.startswith("s3://")})
    if not urls:
        return []
    objects = [f"arn:aws:s3:::{b}/{k}/*" if k else f"arn:aws:s3:::{b}/*"
               for b, k in map(_bucket_key, urls)]
    out = [{"Sid": f"{sid}Objects", "Effect": "Allow", "Action": sorted(set(object_actions)),
            "Resource": objects}]
    by_bucket: dict[str, list[str]] = {}
    for bucket, key in map(_bucket_key, urls):
        by_bucket.setdefault(bucket, []).extend([key, f"{key}/*"] if key else ["*"])
    for i, (bucket, prefixes) in enumerate(sorted(by_bucket.items())):
        out.append({"Sid": f"{sid}List{i}", "Effect": "Allow", "Action": list(S3_LIST),
                    "Resource": f"arn:aws:s3:::{bucket}",
                    "Condition": {"StringLike": {"s3:prefix": sorted(set(prefixes))}}})
    return out


def _alert_targets(spec: DetectorSpec) -> list[str]:
    return [a.sns_topic_arn or a.lambda_arn for a in spec.alerts
            if a.sns_topic_arn or a.lambda_arn]


def _region_account(spec: DetectorSpec, region: str | None, account: str | None):
    aws = spec.pipeline.aws
    region = region or aws.connection.region_name
    if aws.quicksight:
        account = account or aws.quicksight.account_id
    for target in _alert_targets(spec):   # alert target ARNs carry region and account
        arn = target.split(":")
        region, account = region or arn[3] or None, account or arn[4] or None
    return region or "*", account or "*"


def policy(spec: DetectorSpec, *, region: str | None = None, account: str | None = None,
           locations: Locations | None = None) -> dict:
    """The IAM policy document (JSON-ready) for ``spec``'s pipeline."""
    locations = locations or resolve(spec)
    region, account = _region_account(spec, region, account)
    aws = spec.pipeline.aws
    reads = [live_root(p) for p in spec.templated_paths] + list(spec.historical_paths)
    statements = _s3_statements("ReadData", reads, S3_READ)
    statements += _s3_statements("DetectorResultsAndState",
                                 [locations.results, locations.state], S3_WRITE)
    if aws.glue:
        glue = aws.glue
        arn = f"arn:aws:glue:{region}:{account}"
        statements += [
            {"Sid": "GlueCatalog", "Effect": "Allow",
             "Action": sorted(GLUE_CATALOG + GLUE_TABLES),
             "Resource": [f"{arn}:catalog", f"{arn}:database/{glue.database}",
                          f"{arn}:table/{glue.database}/*"]},
            {"Sid": "GlueCrawler", "Effect": "Allow", "Action": list(GLUE_CRAWLER),
             "Resource": f"{arn}:crawler/{glue.crawler}"},
            {"Sid": "PassCrawlerRole", "Effect": "Allow", "Action": ["iam:PassRole"],
             "Resource": glue.role_arn,
             "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}},
            {"Sid": "Athena", "Effect": "Allow", "Action": list(ATHENA),
             "Resource": f"arn:aws:athena:{region}:{account}:workgroup/{aws.athena.work_group}"},
        ]
        if aws.athena.output_location:
            statements += _s3_statements("AthenaResults", [aws.athena.output_location],
                                         ATHENA_OUTPUT)
    if aws.quicksight:
        qs = aws.quicksight
        arn = f"arn:aws:quicksight:{qs.region or region}:{qs.account_id}"
        data_sets = [f"{arn}:dataset/{i}" for i in (qs.live_data_set_id,
                                                    qs.contributions_data_set_id)]
        statements += [
            {"Sid": "QuickSightDataSource", "Effect": "Allow",
             "Action": list(QUICKSIGHT_DATA_SOURCE),
             "Resource": f"{arn}:datasource/{qs.data_source_id}"},
            {"Sid": "QuickSightDataSets", "Effect": "Allow", "Action": list(QUICKSIGHT_DATA_SET),
             "Resource": data_sets + [f"{d}/ingestion/*" for d in data_sets]},
            {"Sid": "QuickSightAnalysis", "Effect": "Allow", "Action": list(QUICKSIGHT_ANALYSIS),
             "Resource": f"{arn}:analysis/{qs.analysis_id}"},
            {"Sid": "QuickSightDashboard", "Effect": "Allow",
             "Action": list(QUICKSIGHT_DASHBOARD),
             "Resource": f"{arn}:dashboard/{qs.dashboard_id}"},
        ]
    topics = sorted({a.sns_topic_arn for a in spec.alerts if a.sns_topic_arn})
    lambdas = sorted({a.lambda_arn for a in spec.alerts if a.lambda_arn})
    if topics:
        statements.append({"Sid": "Alerts", "Effect": "Allow", "Action": ["sns:Publish"],
                           "Resource": topics})
    if lambdas:
        statements.append({"Sid": "AlertLambdas", "Effect": "Allow",
                           "Action": ["lambda:InvokeFunction"], "Resource": lambdas})
    return {"Version": "2012-10-17", "Statement": statements}
