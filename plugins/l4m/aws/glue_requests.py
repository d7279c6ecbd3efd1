"""The Glue requests of a definition: the database and the crawler (SEED-SYSTEM §5).

One crawler per detector with three S3 targets: the live data (one folder per interval:
the ``live`` table, partitioned by folder) and the two result folders (the
``metricvalueanomalyscore`` and ``dimensioncontributions`` tables). The seed's schema
change policy (update tables, deprecate deleted ones) needs full recrawls; with
``RecrawlPolicy: CRAWL_NEW_FOLDERS_ONLY`` the crawler visits only folders added since
its last run, which AWS allows only with the LOG policies. Our layout suits it: every
interval adds a live folder, and the result tables are flat folders whose new files
Athena reads without a crawl. Pure functions: each returns one call's keyword arguments.
"""
from __future__ import annotations

import json

from l4m.locations import Locations
from l4m.spec import DetectorSpec

SEED_SCHEMA_POLICY = {"UpdateBehavior": "UPDATE_IN_DATABASE",
                      "DeleteBehavior": "DEPRECATE_IN_DATABASE"}
INCREMENTAL_SCHEMA_POLICY = {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
RESULT_FOLDERS = ("anomalyResults/dimensionContributions",
                  "anomalyResults/metricValueAnomalyScore")
# Interval folders of one live table share a schema: keep them one table (not one per
# folder), and let new partitions take the table's schema.
CRAWLER_CONFIGURATION = json.dumps({
    "Version": 1.0,
    "Grouping": {"TableGroupingPolicy": "CombineCompatibleSchemas"},
    "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}},
}, sort_keys=True, separators=(",", ":"))


def _glue(spec: DetectorSpec):
    if spec.pipeline.aws.glue is None:
        raise ValueError(f"detector {spec.name} has no Publish.Glue section")
    return spec.pipeline.aws.glue


def database_request(spec: DetectorSpec) -> dict:
    """CreateDatabase: the Glue database the crawler fills."""
    return {"DatabaseInput": {
        "Name": _glue(spec).database,
        "Description": "Lookout for Metrics tables and views (airflow-provider-l4m)"}}


def crawler_targets(locations: Locations) -> list[str]:
    """The crawler's S3 target folders: live data, then the two result tables."""
    return [f"{locations.live_root}/", *(f"{locations.results}/{f}/" for f in RESULT_FOLDERS)]


def crawler_request(spec: DetectorSpec, locations: Locations) -> dict:
    """CreateCrawler (and UpdateCrawler: same fields) for the detector's tables."""
    glue = _glue(spec)
    incremental = glue.recrawl_policy == "CRAWL_NEW_FOLDERS_ONLY"
    return {
        "Name": glue.crawler,
        "Role": glue.role_arn,
        "DatabaseName": glue.database,
        "Description": f"L4M detector {spec.name}: live data and anomaly results",
        "Targets": {"S3Targets": [{"Path": p} for p in crawler_targets(locations)]},
        "SchemaChangePolicy": INCREMENTAL_SCHEMA_POLICY if incremental else SEED_SCHEMA_POLICY,
        "RecrawlPolicy": {"RecrawlBehavior": glue.recrawl_policy},
        "Configuration": CRAWLER_CONFIGURATION,
    }
