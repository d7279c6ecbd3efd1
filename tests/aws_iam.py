"""Recording the AWS calls a test makes, what IAM each needs, and an offline check of a
policy against them (tests only; import: ``from aws_iam import …``).

:func:`recording` records every boto3/aiobotocore API call (service, region, operation,
parameters without bodies, error code). :func:`needs` turns recorded calls into the
(action, resource, condition context) requests IAM authorizes, including what an
operation implies beyond its own name, from the AWS docs: HeadObject is ``s3:GetObject``
and a missing key answers 404 only with ``s3:ListBucket`` on the bucket; CreateCrawler
passes its role (``iam:PassRole``); CreateDataSet passes its data source and
CreateAnalysis/CreateDashboard their datasets (``quicksight:Pass*``); an Athena query
acts on the Glue catalog (on each table and its ancestors: the database and the
catalog) and writes its output location with the caller's rights. :func:`denied` and
:func:`unused` compare a policy with them.

The evaluation is written here because no offline IAM evaluator is among our
dependencies (AWS's policy simulator is an API): Allow statements only, ``*``/``?``
wildcards in actions and resources, StringEquals/StringLike conditions (a key missing
from the request fails its condition, as in IAM).
"""
from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from typing import NamedTuple

_REFERENCE = re.compile(r'"([^"]+)"\."([^"]+)"')
_CREATE_VIEW = re.compile(r'CREATE OR REPLACE VIEW "([^"]+)"\."([^"]+)"')
S3_OBJECT_OPERATIONS = {
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject", "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "DeleteObject": "s3:DeleteObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
}
MISSING = ("404", "NoSuchKey", "NotFound")
# Athena with an output location (Athena user guide, "Access to Amazon S3").
ATHENA_BUCKET = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
ATHENA_OBJECTS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload",
                  "s3:ListMultipartUploadParts")
# Partition metadata of the crawled tables, read by Athena's (Trino's) Glue metastore.
PARTITION_READS = ("glue:GetPartitions", "glue:BatchGetPartition")


class Need(NamedTuple):
    """One authorization request: an IAM action on a resource, with condition keys."""

    action: str
    resource: str
    context: tuple = ()        # ((condition key, value), ...)


@contextmanager
def recording(sink: Callable[[dict], None]):
    """Within the block, pass every AWS API call made in this process to ``sink`` as a
    JSON-ready dict, after it answered: service, region, operation, params (no bodies)
    and ``error`` (the error code, or None)."""
    import aiobotocore.client
    import botocore.client
    from botocore.exceptions import ClientError

    def record(client, operation, params, error=None):
        sink(json.loads(json.dumps({
            "service": client.meta.service_model.service_name,
            "region": client.meta.region_name, "operation": operation, "error": error,
            "params": {k: v for k, v in params.items() if k != "Body"}}, default=str)))

    def code(exc: ClientError) -> str | None:
        return exc.response.get("Error", {}).get("Code")

    sync_call = botocore.client.BaseClient._make_api_call
    async_call = aiobotocore.client.AioBaseClient._make_api_call

    def sync_recording(self, operation, params):
        try:
            answer = sync_call(self, operation, params)
        except ClientError as exc:
            record(self, operation, params, code(exc))
            raise
        record(self, operation, params)
        return answer

    async def async_recording(self, operation, params):
        try:
            answer = await async_call(self, operation, params)
        except ClientError as exc:
            record(self, operation, params, code(exc))
            raise
        record(self, operation, params)
        return answer

    botocore.client.BaseClient._make_api_call = sync_recording
    aiobotocore.client.AioBaseClient._make_api_call = async_recording
    try:
        yield
    finally:
        botocore.client.BaseClient._make_api_call = sync_call
        aiobotocore.client.AioBaseClient._make_api_call = async_call


def needs(calls: Iterable[dict], account: str) -> list[Need]:
    """The authorization requests of ``calls`` (in order: an Athena view is created by
    its first statement and updated by later ones), for the AWS account ``account``."""
    out: list[Need] = []
    athena = _Athena()
    for call in calls:
        service, op, params = call["service"], call["operation"], call["params"]
        handler = {"s3": _s3, "glue": _glue, "athena": athena, "quicksight": _quicksight,
                   "sns": _sns, "lambda": _lambda}.get(service)
        found = handler(op, params, call, account) if handler else None
        if found is None:
            raise KeyError(f"{service}:{op} is not modelled in aws_iam.needs: add what it "
                           "needs from IAM (see the Service Authorization Reference)")
        out += found
    return out


def _s3(op, params, call, account):
    bucket = f"arn:aws:s3:::{params.get('Bucket')}"
    if op == "UploadPartCopy":             # writes the part, reads the copy source
        source = params["CopySource"]     # botocore has made it "bucket/key" by now
        if isinstance(source, dict):
            source = f"{source['Bucket']}/{source['Key']}"
        source = urllib.parse.unquote(source.split("?versionId=")[0]).lstrip("/")
        return [Need("s3:PutObject", f"{bucket}/{params['Key']}"),
                Need("s3:GetObject", f"arn:aws:s3:::{source}")]
    if op in S3_OBJECT_OPERATIONS:
        found = [Need(S3_OBJECT_OPERATIONS[op], f"{bucket}/{params['Key']}")]
        if op in ("GetObject", "HeadObject") and call.get("error") in MISSING:
            found.append(Need("s3:ListBucket", bucket))      # 404, not 403
        return found
    if op in ("ListObjectsV2", "ListObjects"):
        return [Need("s3:ListBucket", bucket, (("s3:prefix", params.get("Prefix", "")),))]
    if op == "HeadBucket":
        return [Need("s3:ListBucket", bucket)]
    return None


def _glue_arn(call, account, kind: str = "catalog") -> str:
    return f"arn:aws:glue:{call['region']}:{account}:{kind}"


def _glue(op, params, call, account):
    if op in ("GetDatabase", "CreateDatabase"):
        name = params.get("Name") or params["DatabaseInput"]["Name"]
        return [Need(f"glue:{op}", _glue_arn(call, account, kind))
                for kind in ("catalog", f"database/{name}")]
    if op in ("GetCrawler", "CreateCrawler", "UpdateCrawler", "StartCrawler"):
        found = [Need(f"glue:{op}", _glue_arn(call, account, f"crawler/{params['Name']}"))]
        if "Role" in params:
            found.append(Need("iam:PassRole", params["Role"],
                              (("iam:PassedToService", "glue.amazonaws.com"),)))
        return found
    return None


def _table(action: str, call, account, database: str, table: str) -> list[Need]:
    """A table action needs the table and its ancestors (database, catalog)."""
    return [Need(action, _glue_arn(call, account, kind))
            for kind in ("catalog", f"database/{database}", f"table/{database}/{table}")]


class _Athena:
    """Athena calls, and what a query does in Glue and S3 with the caller's rights."""

    def __init__(self):
        self.views: dict[tuple[str, str], set[tuple[str, str]]] = {}
        self.work_group = None

    def __call__(self, op, params, call, account):
        if op == "StartQueryExecution":
            self.work_group = params.get("WorkGroup", "primary")
            found = self._query(params["QueryString"], call, account)
            found += self._output(params.get("ResultConfiguration", {}).get("OutputLocation"))
        elif op == "GetQueryExecution":        # polls the query started before it
            found = []
        else:
            return None
        arn = f"arn:aws:athena:{call['region']}:{account}:workgroup/{self.work_group}"
        return [Need(f"athena:{op}", arn)] + found

    def _query(self, sql: str, call, account) -> list[Need]:
        refs = [tuple(m) for m in _REFERENCE.findall(sql)]
        created = _CREATE_VIEW.match(sql)
        found = []
        if created:
            view = created.groups()
            refs.remove(view)
            verb = "UpdateTable" if view in self.views else "CreateTable"
            self.views[view] = set(refs)
            found += [Need("glue:GetDatabase", _glue_arn(call, account, kind))
                      for kind in ("catalog", f"database/{view[0]}")]
            found += _table("glue:GetTable", call, account, *view)
            found += _table(f"glue:{verb}", call, account, *view)
            scanned = []                     # a view definition reads metadata only
        else:
            scanned = [t for r in refs for t in self.views.get(r, {r})]
        for ref in refs + scanned:
            found += _table("glue:GetTable", call, account, *ref)
        for ref in scanned:
            found += [n for a in PARTITION_READS for n in _table(a, call, account, *ref)]
        return found

    @staticmethod
    def _output(location: str | None) -> list[Need]:
        if not location:
            return []
        bucket, _, key = location.removeprefix("s3://").partition("/")
        result = f"arn:aws:s3:::{bucket}/{key.rstrip('/')}/QUERY_ID.csv".replace("//", "/")
        return ([Need(a, f"arn:aws:s3:::{bucket}") for a in ATHENA_BUCKET]
                + [Need(a, result) for a in ATHENA_OBJECTS])


def _quicksight(op, params, call, account):
    arn = f"arn:aws:quicksight:{call['region']}:{params['AwsAccountId']}"
    for key, kind in (("IngestionId", "ingestion"), ("DashboardId", "dashboard"),
                      ("AnalysisId", "analysis"), ("DataSetId", "dataset"),
                      ("DataSourceId", "datasource")):
        if key in params:
            break
    else:
        return None
    resource = (f"{arn}:dataset/{params['DataSetId']}/ingestion/{params['IngestionId']}"
                if kind == "ingestion" else f"{arn}:{kind}/{params[key]}")
    found = [Need(f"quicksight:{op}", resource)]
    if op in ("CreateDataSet", "UpdateDataSet"):
        found += [Need("quicksight:PassDataSource", source["DataSourceArn"])
                  for table in params["PhysicalTableMap"].values()
                  for source in table.values()]
    if op in ("CreateAnalysis", "UpdateAnalysis", "CreateDashboard", "UpdateDashboard"):
        found += [Need("quicksight:PassDataSet", d["DataSetArn"]) for d in
                  params.get("Definition", {}).get("DataSetIdentifierDeclarations", [])]
    return found


def _sns(op, params, call, account):
    return [Need("sns:Publish", params.get("TopicArn") or params["TargetArn"])] \
        if op == "Publish" else None


def _lambda(op, params, call, account):
    return [Need("lambda:InvokeFunction", params["FunctionName"])] if op == "Invoke" else None


# ---------------------------------------------------------------------------- evaluation


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, 0 if case else re.IGNORECASE) is not None


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _conditions_hold(statement: dict, need: Need) -> bool:
    context = dict(need.context)
    for operator, keys in statement.get("Condition", {}).items():
        for key, expected in keys.items():
            if key not in context:
                return False
            if operator == "StringEquals":
                ok = context[key] in _listed(expected)
            elif operator == "StringLike":
                ok = any(_like(e, context[key]) for e in _listed(expected))
            else:
                raise ValueError(f"condition operator {operator} is not modelled")
            if not ok:
                return False
    return True


def _grants(statement: dict, need: Need) -> bool:
    return (statement["Effect"] == "Allow"
            and any(_like(a, need.action, case=False) for a in _listed(statement["Action"]))
            and any(_like(r, need.resource) for r in _listed(statement["Resource"]))
            and _conditions_hold(statement, need))


def denied(policy: dict, requests: Iterable[Need]) -> list[Need]:
    """The requests no statement of ``policy`` allows (each once)."""
    return sorted({n for n in requests
                   if not any(_grants(s, n) for s in policy["Statement"])})


def unused(policy: dict, requests: Iterable[Need]) -> list[str]:
    """What ``policy`` grants that no request uses: per statement, each action no request
    uses on one of its resources, and each resource no request of its actions touches."""
    requests = list(requests)
    found = []
    for s in policy["Statement"]:
        used = [n for n in requests if _grants(s, n)]
        found += [f"{s['Sid']}: action {a}" for a in _listed(s["Action"])
                  if not any(_like(a, n.action, case=False) for n in used)]
        found += [f"{s['Sid']}: resource {r}" for r in _listed(s["Resource"])
                  if not any(_like(r, n.resource) for n in used)]
    return found
