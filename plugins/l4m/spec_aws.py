"""The definition's AWS sections (extensions beyond L4M): connection, Glue, Athena, QuickSight.

When ``Publish.Glue`` is present the pipeline publishes on AWS as the seed did (crawler,
Athena views, QuickSight datasets and dashboard); otherwise it publishes locally::

    "Aws": {"ConnId": "aws_default", "RegionName": "us-east-1",
            "BotocoreConfig": {"retries": {"mode": "standard", "max_attempts": 10}}},
    "Publish": {
      "Glue":   {"DatabaseName": "l4m-crawler-output-db",
                 "RoleArn": "arn:aws:iam::123456789012:role/l4m-crawler"},
      "Athena": {"WorkGroup": "primary", "OutputLocation": "s3://bucket/athena/"},
      "QuickSight": {"AwsAccountId": "123456789012",
                     "Users": ["arn:aws:quicksight:us-east-1:123456789012:user/default/me"],
                     "ImportMode": "DIRECT_QUERY"}}

Athena and QuickSight need Glue (the tables); Athena defaults to the ``primary`` work
group. Publishing on AWS needs ``s3://`` results and live data. Pure Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from l4m.spec_time import (
    SpecError,
    check_array,
    check_choice,
    check_object,
    check_string,
    join_path,
)

AWS_FIELDS = ("ConnId", "RegionName", "BotocoreConfig")
GLUE_FIELDS = ("DatabaseName", "CrawlerName", "RoleArn", "RecrawlPolicy")
ATHENA_FIELDS = ("WorkGroup", "OutputLocation")
QUICKSIGHT_FIELDS = ("AwsAccountId", "Region", "Namespace", "Users", "Groups", "ImportMode",
                     "DataSourceId", "LiveDataSetId", "ContributionsDataSetId", "AnalysisId",
                     "DashboardId")
RECRAWL_POLICIES = ("CRAWL_EVERYTHING", "CRAWL_NEW_FOLDERS_ONLY")
IMPORT_MODES = ("DIRECT_QUERY", "SPICE")
# botocore.config.Config keyword arguments a definition may set (plain JSON values).
BOTOCORE_CONFIG_FIELDS = ("retries", "connect_timeout", "read_timeout", "max_pool_connections",
                          "tcp_keepalive", "user_agent_extra")

SEED_DATABASE = "l4m-crawler-output-db"
SEED_DATA_SOURCE_ID = "L4MQuickSightDataSourceId"
SEED_LIVE_DATA_SET_ID = "L4MQuickSightDataSetWithLiveData"
SEED_CONTRIBUTIONS_DATA_SET_ID = "L4MQuickSightDataSetWithDimensionContributions"

_GLUE_NAME = re.compile(r"[a-z0-9_-]{1,255}")          # Glue lower-cases database names
_CRAWLER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_IAM_ROLE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")
_ACCOUNT = re.compile(r"[0-9]{12}")
_QS_ID = re.compile(r"[\w-]{1,512}")
_QS_NAMESPACE = re.compile(r"[a-zA-Z0-9._-]{1,64}")
_WORK_GROUP = re.compile(r"[a-zA-Z0-9._-]{1,128}")
_CREDENTIAL = re.compile(r"access.?key|secret|session.?token|password|credential",
                         re.IGNORECASE)
_QS_PRINCIPAL = {
    "Users": re.compile(r"arn:aws[a-z-]*:quicksight:[a-z0-9-]+:[0-9]{12}:user/[\w.@+=,/-]+"),
    "Groups": re.compile(r"arn:aws[a-z-]*:quicksight:[a-z0-9-]+:[0-9]{12}:group/[\w.@+=,/-]+"),
}


@dataclass(frozen=True)
class AwsConnection:
    """How the pipeline reaches AWS: Airflow connection id, region, botocore Config kwargs."""

    conn_id: str = "aws_default"
    region_name: str | None = None
    botocore_config: dict | None = None


@dataclass(frozen=True)
class GlueSpec:
    """The Glue database and crawler over the live data and the two result tables."""

    database: str
    crawler: str
    role_arn: str
    recrawl_policy: str = "CRAWL_EVERYTHING"


@dataclass(frozen=True)
class AthenaSpec:
    """Where the view DDL and validation queries run."""

    work_group: str = "primary"
    output_location: str | None = None


@dataclass(frozen=True)
class QuickSightSpec:
    """The QuickSight account, principals and resource ids of the published dashboard."""

    account_id: str
    region: str | None
    namespace: str
    users: tuple[str, ...]
    groups: tuple[str, ...]
    import_mode: str
    data_source_id: str
    live_data_set_id: str
    contributions_data_set_id: str
    analysis_id: str
    dashboard_id: str

    @property
    def principals(self) -> tuple[str, ...]:
        """Every user and group ARN that gets access, users first."""
        return self.users + self.groups


@dataclass(frozen=True)
class AwsSpec:
    """The AWS sections of a definition; ``glue`` is None when publishing locally."""

    connection: AwsConnection = field(default_factory=AwsConnection)
    glue: GlueSpec | None = None
    athena: AthenaSpec | None = None
    quicksight: QuickSightSpec | None = None


def _match(value: object, path: str, pattern: re.Pattern, what: str) -> str:
    text = check_string(value, path)
    if not pattern.fullmatch(text):
        raise SpecError(path, f"must be {what} (got {text!r})")
    return text


def _no_credentials(section: object, path: str) -> None:
    """Refuse credential fields in ``section``, naming the field (never its value)."""
    for key in section if isinstance(section, dict) else ():
        if isinstance(key, str) and _CREDENTIAL.search(key):
            raise SpecError(f"{path}.{key}", "AWS credentials do not belong in a definition: "
                                             "the tasks sign with the Airflow connection "
                                             "named by Aws.ConnId")


def _connection(doc: dict) -> AwsConnection:
    _no_credentials(doc.get("Aws"), "Aws")
    aws = check_object(doc.get("Aws", {}), "Aws", AWS_FIELDS)
    conn_id = check_string(aws.get("ConnId", "aws_default"), "Aws.ConnId", 250)
    if not conn_id.strip():
        raise SpecError("Aws.ConnId", "must not be blank")
    region = aws.get("RegionName")
    if region is not None:
        region = _match(region, "Aws.RegionName", _REGION, "an AWS region such as us-east-1")
    config = aws.get("BotocoreConfig")
    if config is not None:
        _no_credentials(config, "Aws.BotocoreConfig")
        config = dict(check_object(config, "Aws.BotocoreConfig", BOTOCORE_CONFIG_FIELDS))
    return AwsConnection(conn_id, region, config)



def _glue(section: dict, detector: str) -> GlueSpec:
    glue = check_object(section, "Publish.Glue", GLUE_FIELDS, ("RoleArn",))
    return GlueSpec(
        database=_match(glue.get("DatabaseName", SEED_DATABASE), "Publish.Glue.DatabaseName",
                        _GLUE_NAME, "a Glue database name: lower-case letters, digits, _ and -"),
        crawler=_match(glue.get("CrawlerName", f"l4m-{detector}-crawler"),
                       "Publish.Glue.CrawlerName", _CRAWLER_NAME,
                       "a crawler name: letters, digits, '.', '_' and '-'"),
        role_arn=_match(glue["RoleArn"], "Publish.Glue.RoleArn", _IAM_ROLE,
                        "an IAM role ARN such as arn:aws:iam::123456789012:role/l4m-crawler"),
        recrawl_policy=check_choice(glue.get("RecrawlPolicy", "CRAWL_EVERYTHING"),
                                    "Publish.Glue.RecrawlPolicy", RECRAWL_POLICIES),
    )


def _athena(section: dict) -> AthenaSpec:
    athena = check_object(section, "Publish.Athena", ATHENA_FIELDS)
    output = athena.get("OutputLocation")
    if output is not None:
        output = check_string(output, "Publish.Athena.OutputLocation", 1024)
        if not output.startswith("s3://") or not output[5:].strip("/"):
            raise SpecError("Publish.Athena.OutputLocation",
                            f"must be an s3:// URL (got {output!r})")
    return AthenaSpec(
        work_group=_match(athena.get("WorkGroup", "primary"), "Publish.Athena.WorkGroup",
                          _WORK_GROUP, "an Athena work group name"),
        output_location=output,
    )


def _quicksight(section: dict, detector: str) -> QuickSightSpec:
    path = "Publish.QuickSight"
    qs = check_object(section, path, QUICKSIGHT_FIELDS, ("AwsAccountId",))
    principals = {}
    for kind in ("Users", "Groups"):
        items = check_array(qs.get(kind, []), join_path(path, kind), 64, empty=None)
        principals[kind] = tuple(
            _match(item, f"{path}.{kind}[{i}]", _QS_PRINCIPAL[kind],
                   f"a QuickSight {kind[:-1].lower()} ARN "
                   f"(arn:aws:quicksight:REGION:ACCOUNT:{kind[:-1].lower()}/NAMESPACE/NAME)")
            for i, item in enumerate(items))
    if not principals["Users"] and not principals["Groups"]:
        raise SpecError(f"{path}.Users", "name at least one user or group: QuickSight "
                                         "resources nobody may open are of no use")
    region = qs.get("Region")
    if region is not None:
        region = _match(region, f"{path}.Region", _REGION, "an AWS region such as us-east-1")

    def ident(field: str, default: str) -> str:
        return _match(qs.get(field, default), f"{path}.{field}", _QS_ID,
                      "a QuickSight id: letters, digits, '_' and '-'")

    return QuickSightSpec(
        account_id=_match(qs["AwsAccountId"], f"{path}.AwsAccountId", _ACCOUNT,
                          "a 12-digit AWS account id"),
        region=region,
        namespace=_match(qs.get("Namespace", "default"), f"{path}.Namespace", _QS_NAMESPACE,
                         "a QuickSight namespace"),
        users=principals["Users"],
        groups=principals["Groups"],
        import_mode=check_choice(qs.get("ImportMode", "DIRECT_QUERY"), f"{path}.ImportMode",
                                 IMPORT_MODES),
        data_source_id=ident("DataSourceId", SEED_DATA_SOURCE_ID),
        live_data_set_id=ident("LiveDataSetId", SEED_LIVE_DATA_SET_ID),
        contributions_data_set_id=ident("ContributionsDataSetId",
                                        SEED_CONTRIBUTIONS_DATA_SET_ID),
        analysis_id=ident("AnalysisId", f"l4m-{detector}-analysis"),
        dashboard_id=ident("DashboardId", f"l4m-{detector}-dashboard"),
    )


def parse_aws(doc: dict, publish: dict) -> AwsSpec:
    """Read ``Aws`` and the ``Glue``/``Athena``/``QuickSight`` parts of ``Publish``."""
    detector = str(doc.get("AnomalyDetectorName", ""))
    glue = _glue(publish["Glue"], detector) if "Glue" in publish else None
    athena = _athena(publish["Athena"]) if "Athena" in publish else None
    quicksight = _quicksight(publish["QuickSight"], detector) if "QuickSight" in publish else None
    if athena and not glue:
        raise SpecError("Publish.Athena", "needs Publish.Glue (the tables the views read)")
    if quicksight and not glue:
        raise SpecError("Publish.QuickSight", "needs Publish.Glue (the tables its views read)")
    if glue and not athena:
        athena = AthenaSpec()
    return AwsSpec(_connection(doc), glue, athena, quicksight)
