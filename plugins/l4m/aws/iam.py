"""The least-privilege IAM policy of the Airflow execution role for one definition.

Each statement names the actions the code calls, and those AWS requires for them, on
the exact resources of the definition (tests record every AWS call and check both
ways: each is allowed, each grant is used): its S3 prefixes and buckets,
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
# Results: a long anomalyGroups.jsonl is rewritten by a multipart upload copying its
# prefix inside S3 (UploadPartCopy: GetObject on it, PutObject), aborted if it fails.
S3_WRITE = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload")
# State: the lock object is released and old model versions pruned with DeleteObject.
S3_STATE = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
# ListBucket on each bucket, without an s3:prefix condition: S3 answers a GET or HEAD of
# a missing key with 404 only to callers allowed to list the bucket (403 otherwise), and
# the storage layer tells "missing" from "forbidden" by that status. Such a GET carries
# no s3:prefix, so a prefix-conditioned grant would not count for it.
S3_BUCKET = ("s3:ListBucket",)
# Athena writes query results with the caller's permissions: bucket-level actions on the
# bucket, object actions under the prefix (Athena user guide, "Access to Amazon S3").
ATHENA_OUTPUT_BUCKET = ("s3:GetBucketLocation", "s3:ListBucket",
                        "s3:ListBucketMultipartUploads")
ATHENA_OUTPUT_OBJECTS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                         "s3:ListMultipartUploadParts")
GLUE_CRAWLER = ("glue:GetCrawler", "glue:CreateCrawler", "glue:UpdateCrawler",
                "glue:StartCrawler")
GLUE_CATALOG = ("glue:GetDatabase", "glue:CreateDatabase")
# CREATE OR REPLACE VIEW, and the check queries over the views and the crawled
# (partitioned) tables: Athena reads and writes the catalog with the caller's rights,
# partitions with GetPartitions and BatchGetPartition.
GLUE_TABLES = ("glue:GetTable", "glue:CreateTable", "glue:UpdateTable",
               "glue:GetPartitions", "glue:BatchGetPartition")
ATHENA = ("athena:StartQueryExecution", "athena:GetQueryExecution")
QUICKSIGHT_DATA_SOURCE = ("quicksight:DescribeDataSource", "quicksight:CreateDataSource",
                          "quicksight:UpdateDataSource", "quicksight:PassDataSource",
                          "quicksight:DescribeDataSourcePermissions",
                          "quicksight:UpdateDataSourcePermissions")
QUICKSIGHT_DATA_SET = ("quicksight:DescribeDataSet", "quicksight:CreateDataSet",
                       "quicksight:UpdateDataSet", "quicksight:PassDataSet",
                       "quicksight:DescribeDataSetPermissions",
                       "quicksight:UpdateDataSetPermissions")
QUICKSIGHT_INGESTION = ("quicksight:CreateIngestion", "quicksight:DescribeIngestion")
QUICKSIGHT_ANALYSIS = ("quicksight:DescribeAnalysis", "quicksight:DescribeAnalysisDefinition",
                       "quicksight:CreateAnalysis", "quicksight:UpdateAnalysis",
                       "quicksight:DescribeAnalysisPermissions",
                       "quicksight:UpdateAnalysisPermissions")
QUICKSIGHT_DASHBOARD = ("quicksight:DescribeDashboard", "quicksight:DescribeDashboardDefinition",
                        "quicksight:CreateDashboard", "quicksight:UpdateDashboard",
                        "quicksight:UpdateDashboardPublishedVersion",
                        "quicksight:DescribeDashboardPermissions",
                        "quicksight:UpdateDashboardPermissions")


def _statement(sid: str, actions: tuple[str, ...], resources: list[str], **extra) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": list(actions),
            "Resource": sorted(set(resources)), **extra}


def _bucket_key(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return bucket, key.strip("/")


def _objects(url: str, *, itself: bool = False) -> list[str]:
    """ARNs of the objects under ``url``; with ``itself`` also of ``url``'s own key (a
    file, or the folder name a storage check looks up)."""
    bucket, key = _bucket_key(url)
    if not key:
        return [f"arn:aws:s3:::{bucket}/*"]
    return [f"arn:aws:s3:::{bucket}/{key}/*"] + [f"arn:aws:s3:::{bucket}/{key}"] * itself


def _s3_statements(spec: DetectorSpec, locations: Locations) -> list[dict]:
    """Reads of the live and historical data, results and state, ListBucket on their buckets."""
    live = [u for u in map(live_root, spec.templated_paths) if u.startswith("s3://")]
    history = [u for u in spec.historical_paths if u.startswith("s3://")]
    parts = [("ReadData", S3_READ, [o for u in live for o in _objects(u)]
              + [o for u in history for o in _objects(u, itself=True)]),
             ("DetectorResults", S3_WRITE, _objects(locations.results)
              if locations.results.startswith("s3://") else []),
             ("DetectorState", S3_STATE, _objects(locations.state)
              if locations.state.startswith("s3://") else [])]
    urls = live + history + [u for u in (locations.results, locations.state)
                             if u.startswith("s3://")]
    parts.append(("ListBuckets", S3_BUCKET,
                  [f"arn:aws:s3:::{_bucket_key(u)[0]}" for u in urls]))
    return [_statement(sid, actions, arns) for sid, actions, arns in parts if arns]


def _glue_athena_statements(spec: DetectorSpec, region: str, account: str) -> list[dict]:
    aws = spec.pipeline.aws
    glue = aws.glue
    arn = f"arn:aws:glue:{region}:{account}"
    out = [
        _statement("GlueCatalog", GLUE_CATALOG + GLUE_TABLES,
                   [f"{arn}:catalog", f"{arn}:database/{glue.database}",
                    f"{arn}:table/{glue.database}/*"]),
        _statement("GlueCrawler", GLUE_CRAWLER, [f"{arn}:crawler/{glue.crawler}"]),
        _statement("PassCrawlerRole", ("iam:PassRole",), [glue.role_arn],
                   Condition={"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}),
        _statement("Athena", ATHENA,
                   [f"arn:aws:athena:{region}:{account}:workgroup/{aws.athena.work_group}"]),
    ]
    if aws.athena.output_location:
        bucket = _bucket_key(aws.athena.output_location)[0]
        out += [_statement("AthenaResultsBucket", ATHENA_OUTPUT_BUCKET,
                           [f"arn:aws:s3:::{bucket}"]),
                _statement("AthenaResults", ATHENA_OUTPUT_OBJECTS,
                           _objects(aws.athena.output_location))]
    return out


def _quicksight_statements(spec: DetectorSpec, region: str) -> list[dict]:
    qs = spec.pipeline.aws.quicksight
    arn = f"arn:aws:quicksight:{qs.region or region}:{qs.account_id}"
    data_sets = [f"{arn}:dataset/{i}" for i in (qs.live_data_set_id,
                                                qs.contributions_data_set_id)]
    spice = qs.import_mode == "SPICE"       # DIRECT_QUERY datasets are never ingested
    return [
        _statement("QuickSightDataSource", QUICKSIGHT_DATA_SOURCE,
                   [f"{arn}:datasource/{qs.data_source_id}"]),
        _statement("QuickSightDataSets", QUICKSIGHT_DATA_SET + QUICKSIGHT_INGESTION * spice,
                   data_sets + [f"{d}/ingestion/*" for d in data_sets] * spice),
        _statement("QuickSightAnalysis", QUICKSIGHT_ANALYSIS,
                   [f"{arn}:analysis/{qs.analysis_id}"]),
        _statement("QuickSightDashboard", QUICKSIGHT_DASHBOARD,
                   [f"{arn}:dashboard/{qs.dashboard_id}"]),
    ]


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
    region, account = _region_account(spec, region, account)
    statements = _s3_statements(spec, locations or resolve(spec))
    if spec.pipeline.aws.glue:
        statements += _glue_athena_statements(spec, region, account)
    if spec.pipeline.aws.quicksight:
        statements += _quicksight_statements(spec, region)
    topics = [a.sns_topic_arn for a in spec.alerts if a.sns_topic_arn]
    lambdas = [a.lambda_arn for a in spec.alerts if a.lambda_arn]
    if topics:
        statements.append(_statement("Alerts", ("sns:Publish",), topics))
    if lambdas:
        statements.append(_statement("AlertLambdas", ("lambda:InvokeFunction",), lambdas))
    return {"Version": "2012-10-17", "Statement": statements}
