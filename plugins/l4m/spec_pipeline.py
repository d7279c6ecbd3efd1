"""The definition's pipeline sections (extensions beyond L4M): storage, schedule, publish,
limits.

L4M kept results and state inside the service; here the definition says where they
live and where the Airflow pipeline publishes them::

    "Storage":  {"ResultsPath": "file:///data/results/ecommerce",
                 "StatePath":   "file:///data/state/ecommerce"},
    "Schedule": {"StartDate": "2021-03-01T00:00:00Z", "Catchup": true,
                 "DataDeadlineSeconds": 3600},
    "Publish":  {"Local": {"CatalogPath": "file:///data/catalog/ecommerce.duckdb",
                           "DashboardPath": "file:///data/dashboard/ecommerce.html"}},
    "Limits":   {"MaxTimeSeries": 200000}

Every field is optional; :func:`l4m.locations.resolve` fills the defaults. Pure
Python, no I/O.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from l4m.spec_aws import AwsSpec, parse_aws
from l4m.spec_time import SpecError, check_integer, check_object, check_string, json_kind

PIPELINE_FIELDS = ("Storage", "Schedule", "Publish", "Aws", "Limits")
_URL_SCHEMES = ("file://", "s3://")
MAX_DEADLINE_SECONDS = 7 * 86_400
MAX_TIME_SERIES = 100_000_000


@dataclass(frozen=True)
class PipelineSpec:
    """Where results and state live, when the schedule starts, where results are published."""

    results_path: str | None = None
    state_path: str | None = None
    start_date: dt.datetime | None = None
    catchup: bool = False
    data_deadline_seconds: int | None = None
    catalog_path: str | None = None
    dashboard_path: str | None = None
    aws: AwsSpec = field(default_factory=AwsSpec)
    max_time_series: int | None = None

    def before_start(self, interval_start: dt.datetime) -> bool:
        """Whether an interval starts before ``Schedule.StartDate``: the detector learns
        it from the history at activation and never detects it."""
        return self.start_date is not None and interval_start < self.start_date


def _url(value: object, path: str, schemes: tuple[str, ...] = _URL_SCHEMES) -> str:
    text = check_string(value, path, 1024)
    if not text.startswith(schemes) or not text.split("://", 1)[1].strip("/"):
        raise SpecError(path, f"must be a {' or '.join(schemes)} URL with a path (got {text!r})")
    if text.startswith("s3://") and text[len("s3://"):].startswith("/"):
        raise SpecError(path, f"must name a bucket: s3://bucket/prefix (got {text!r})")
    if "{{" in text:
        raise SpecError(path, "must not contain {{placeholders}}")
    return text.rstrip("/")


def _start_date(value: object, path: str) -> dt.datetime:
    text = check_string(value, path, 64)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(path, f"must be an ISO-8601 date-time such as 2021-03-01T00:00:00Z "
                              f"(got {text!r})") from None
    if parsed.tzinfo is None:
        raise SpecError(path, f"must carry a UTC offset, e.g. {text}Z (got {text!r})")
    return parsed.astimezone(dt.timezone.utc)


def parse_pipeline(doc: dict) -> PipelineSpec:
    """Read the Storage, Schedule and Publish sections of a definition document."""
    storage = check_object(doc.get("Storage", {}), "Storage", ("ResultsPath", "StatePath"))
    schedule = check_object(doc.get("Schedule", {}), "Schedule",
                            ("StartDate", "Catchup", "DataDeadlineSeconds"))
    publish = check_object(doc.get("Publish", {}), "Publish",
                           ("Local", "Glue", "Athena", "QuickSight"))
    local = check_object(publish.get("Local", {}), "Publish.Local",
                         ("CatalogPath", "DashboardPath"))
    catchup = schedule.get("Catchup", False)
    if not isinstance(catchup, bool):
        raise SpecError("Schedule.Catchup", f"must be true or false (got {json_kind(catchup)})")
    deadline = schedule.get("DataDeadlineSeconds")
    if deadline is not None and (isinstance(deadline, bool) or not isinstance(deadline, int)
                                 or not 0 <= deadline <= MAX_DEADLINE_SECONDS):
        raise SpecError("Schedule.DataDeadlineSeconds",
                        f"must be an integer between 0 and {MAX_DEADLINE_SECONDS} "
                        f"(got {deadline!r})")
    limits = check_object(doc.get("Limits", {}), "Limits", ("MaxTimeSeries",))
    max_series = None
    if "MaxTimeSeries" in limits:
        max_series = check_integer(limits["MaxTimeSeries"], "Limits.MaxTimeSeries", 1,
                                   MAX_TIME_SERIES)
    local_only = ("file://",)
    aws = parse_aws(doc, publish)
    if aws.glue and not str(storage.get("ResultsPath", "")).startswith("s3://"):
        raise SpecError("Storage.ResultsPath", "must be an s3:// URL when Publish.Glue is set "
                                               "(the crawler reads the results from S3)")
    return PipelineSpec(
        results_path=_url(storage["ResultsPath"], "Storage.ResultsPath")
        if "ResultsPath" in storage else None,
        state_path=_url(storage["StatePath"], "Storage.StatePath")
        if "StatePath" in storage else None,
        start_date=_start_date(schedule["StartDate"], "Schedule.StartDate")
        if "StartDate" in schedule else None,
        catchup=catchup,
        data_deadline_seconds=deadline,
        catalog_path=_url(local["CatalogPath"], "Publish.Local.CatalogPath", local_only)
        if "CatalogPath" in local else None,
        dashboard_path=_url(local["DashboardPath"], "Publish.Local.DashboardPath", local_only)
        if "DashboardPath" in local else None,
        aws=aws,
        max_time_series=max_series,
    )
