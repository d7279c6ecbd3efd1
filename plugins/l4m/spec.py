"""The detector definition: one JSON document in L4M's vocabulary, validated.

The document joins what Lookout for Metrics split over CreateAnomalyDetector,
CreateMetricSet and CreateAlert (see ``docs/definition.md``). :func:`parse_spec` checks it
against L4M's own constraints plus the documented extensions and returns a frozen
:class:`DetectorSpec`. Pure Python: no I/O, standard library only. The MetricSource part
lives in ``spec_paths``, intervals, timestamp formats and the value checks in ``spec_time``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field

from l4m.spec_paths import (
    CsvFormat,
    JsonFormat,
    live_root,
    parse_metric_source,
    render_templated_path,
    within_l4m_path_limits,
)
from l4m.spec_pipeline import PIPELINE_FIELDS, PipelineSpec, parse_pipeline
from l4m.spec_time import (
    EPOCH_FORMATS,
    L4M_FREQUENCIES,
    SpecError,
    check_arn,
    check_array,
    check_choice,
    check_integer,
    check_name,
    check_object,
    check_string,
    check_tags,
    check_text,
    check_timezone,
    interval_seconds,
    java_to_strptime,
    json_kind,
    parse_column_format,
)

__all__ = [
    "AlertSpec",
    "CsvFormat",
    "DetectorSpec",
    "JsonFormat",
    "Metric",
    "PipelineSpec",
    "SpecError",
    "java_to_strptime",
    "parse_spec",
    "parse_spec_json",
    "render_templated_path",
]

L4M_MAX_COLUMNS = 5  # measures, and dimensions, per metric set in L4M
MAX_COLUMNS = 50  # our hard cap, for measures and for dimensions
L4M_MAX_ALERT_METRICS = 5
L4M_MAX_ALERT_DIMENSIONS = 5
L4M_MAX_ALERT_VALUES = 10
MAX_OFFSET_SECONDS = 432_000
RESERVED_COLUMNS = ("key", "timestamp")  # columns of the metricValueAnomalyScore table

_KMS_ARN = re.compile(
    r"arn:aws.*:kms:.*:[0-9]{12}:key/[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}"
)
_TOP_FIELDS = (
    "AnomalyDetectorName",
    "AnomalyDetectorDescription",
    "AnomalyDetectorConfig",
    "MetricSet",
    "Alerts",
    "KmsKeyArn",
    "Tags",
    *PIPELINE_FIELDS,
)
_METRIC_SET_FIELDS = (
    "MetricSetName",
    "MetricSetDescription",
    "MetricList",
    "Offset",
    "TimestampColumn",
    "DimensionList",
    "MetricSetFrequency",
    "MetricSource",
    "Timezone",
    "Tags",
    "DimensionFilterList",
)
_ALERT_FIELDS = (
    "AlertName",
    "AlertSensitivityThreshold",
    "AlertDescription",
    "Action",
    "AlertFilters",
    "Tags",
)


@dataclass(frozen=True)
class Metric:
    """A measure: a numeric column and how its values in one interval are aggregated."""

    name: str
    aggregation: str  # "SUM" | "AVG"


@dataclass(frozen=True)
class AlertSpec:
    """One alert: where to send anomaly groups whose severity reaches the threshold."""

    name: str
    sensitivity_threshold: int
    description: str | None
    sns_topic_arn: str | None
    sns_format: str | None
    lambda_arn: str | None
    role_arn: str | None
    metric_filter: tuple[str, ...] | None
    dimension_filter: dict  # {dimension: tuple(values)}


@dataclass(frozen=True)
class DetectorSpec:
    """A validated detector definition."""

    name: str
    description: str | None
    frequency: str
    interval_seconds: int
    metric_set_name: str
    metrics: tuple[Metric, ...]
    dimensions: tuple[str, ...]
    timestamp_column: str
    timestamp_format: str | None
    strptime_format: str | None
    timezone: str
    offset_seconds: int
    dimension_filters: dict  # {dimension: frozenset(values)}
    templated_paths: tuple[str, ...]
    historical_paths: tuple[str, ...]
    file_format: CsvFormat | JsonFormat
    alerts: tuple[AlertSpec, ...]
    document: dict
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)

    @property
    def measure_names(self) -> tuple[str, ...]:
        """The measure (metric column) names, in definition order."""
        return tuple(metric.name for metric in self.metrics)

    def extensions_used(self) -> tuple[str, ...]:
        """What this definition uses beyond L4M's limits; empty when L4M would accept it."""
        found = []
        if self.frequency not in L4M_FREQUENCIES:
            found.append(f"frequency {self.frequency} (L4M: {', '.join(L4M_FREQUENCIES)})")
        for what, count in (("measures", len(self.metrics)), ("dimensions", len(self.dimensions))):
            if count > L4M_MAX_COLUMNS:
                found.append(f"{count} {what} (L4M: at most {L4M_MAX_COLUMNS})")
        if self.timestamp_format in EPOCH_FORMATS:
            found.append(f"ColumnFormat {self.timestamp_format}")
        if not self.templated_paths and not self.historical_paths:
            found.append("no source path (L4M needs an S3 path)")
        for label, paths, templated in (
            ("TemplatedPathList", self.templated_paths, True),
            ("HistoricalDataPathList", self.historical_paths, False),
        ):
            if len(paths) > 1:
                found.append(f"{len(paths)} paths in {label} (L4M: 1)")
            found.extend(
                f"{label} path {path!r} (L4M: s3:// with its character set)"
                for path in paths
                if not within_l4m_path_limits(path, templated=templated)
            )
        for alert in self.alerts:
            found.extend(f"alert {alert.name}: {what}" for what in _alert_extensions(alert))
        return tuple(found)

    def within_l4m_limits(self) -> bool:
        """Whether L4M itself would have accepted the three requests built from this spec."""
        return not self.extensions_used()

    def detector_request(self) -> dict:
        """The CreateAnomalyDetector request of this definition."""
        return {
            key: copy.deepcopy(value)
            for key, value in self.document.items()
            if key not in ("MetricSet", "Alerts", *PIPELINE_FIELDS)
        }

    def metric_set_request(self, detector_arn: str) -> dict:
        """The CreateMetricSet request, with MetricSetName and MetricSetFrequency filled in."""
        request = {
            "AnomalyDetectorArn": check_arn(detector_arn, "AnomalyDetectorArn"),
            **copy.deepcopy(self.document["MetricSet"]),
        }
        request.setdefault("MetricSetName", self.metric_set_name)
        request.setdefault("MetricSetFrequency", self.frequency)
        request.setdefault("MetricSource", {"S3SourceConfig": {}})  # required by L4M's model
        return request

    def alert_requests(self, detector_arn: str) -> list[dict]:
        """The CreateAlert requests, one per alert."""
        arn = check_arn(detector_arn, "AnomalyDetectorArn")
        return [
            {"AnomalyDetectorArn": arn, **copy.deepcopy(alert)}
            for alert in self.document.get("Alerts", [])
        ]


def _alert_extensions(alert: AlertSpec) -> list[str]:
    """What one alert uses beyond L4M's CreateAlert limits."""
    found = []
    if alert.role_arn is None:
        found.append("no RoleArn in Action (L4M required one)")
    if alert.metric_filter and len(alert.metric_filter) > L4M_MAX_ALERT_METRICS:
        found.append(f"{len(alert.metric_filter)} measures in AlertFilters (L4M: at most 5)")
    if len(alert.dimension_filter) > L4M_MAX_ALERT_DIMENSIONS:
        found.append(f"{len(alert.dimension_filter)} dimensions in AlertFilters (L4M: at most 5)")
    if any(len(values) > L4M_MAX_ALERT_VALUES for values in alert.dimension_filter.values()):
        found.append("more than 10 values for one dimension in AlertFilters")
    return found


# ---------------------------------------------------------------------------- value checks


def _column(value: object, path: str, columns: dict[str, str], data: bool = True) -> str:
    """A column name, unique (case-insensitively) among measures, dimensions and timestamp."""
    name = check_name(value, path)
    if name.lower() in columns:
        raise SpecError(
            path,
            f"{name!r} is already used as {columns[name.lower()]} "
            "(names are compared case-insensitively)",
        )
    if data and name.lower() in RESERVED_COLUMNS:
        raise SpecError(
            path, f"{name!r} is reserved: the result table has key and Timestamp columns"
        )
    columns[name.lower()] = path
    return name


def _dimension_ref(value: object, path: str, dimensions: tuple[str, ...], seen) -> str:
    """A reference to a declared dimension, listed once."""
    if check_string(value, path) not in dimensions:
        known = ", ".join(dimensions) or "none declared"
        raise SpecError(path, f"{value!r} is not a dimension (dimensions: {known})")
    if value in seen:
        raise SpecError(path, f"duplicate filter for dimension {value!r}")
    return value


# ---------------------------------------------------------------------------- document parts


def _metrics(value: object, columns: dict[str, str]) -> tuple[Metric, ...]:
    path = "MetricSet.MetricList"
    metrics = []
    for i, item in enumerate(
        check_array(value, path, MAX_COLUMNS, "must list at least one measure")
    ):
        at = f"{path}[{i}]"
        check_object(
            item,
            at,
            ("MetricName", "AggregationFunction", "Namespace"),
            ("MetricName", "AggregationFunction"),
        )
        name = _column(item["MetricName"], f"{at}.MetricName", columns)
        aggregation = check_choice(
            item["AggregationFunction"], f"{at}.AggregationFunction", ("SUM", "AVG")
        )
        if "Namespace" in item:
            namespace = check_string(item["Namespace"], f"{at}.Namespace", 255)
            if not namespace or namespace.startswith(":"):
                raise SpecError(f"{at}.Namespace", "must not be empty or start with ':'")
        metrics.append(Metric(name, aggregation))
    return tuple(metrics)


def _dimensions(metric_set: dict, columns: dict[str, str]) -> tuple[str, ...]:
    path = "MetricSet.DimensionList"
    if "DimensionList" not in metric_set:
        return ()
    items = check_array(metric_set["DimensionList"], path, MAX_COLUMNS)
    return tuple(_column(name, f"{path}[{i}]", columns) for i, name in enumerate(items))


def _timestamp(value: object, columns: dict[str, str], interval: int):
    """(column, format as written, strptime format) of the TimestampColumn."""
    path = "MetricSet.TimestampColumn"
    check_object(value, path, ("ColumnName", "ColumnFormat"), ("ColumnName",))
    column = _column(value["ColumnName"], f"{path}.ColumnName", columns, data=False)
    if "ColumnFormat" not in value:
        return column, None, None
    return column, *parse_column_format(value["ColumnFormat"], f"{path}.ColumnFormat", interval)


def _dimension_filters(value: object, dimensions: tuple[str, ...]) -> dict:
    """The metric set's EQUALS filters: {dimension: frozenset(values)}."""
    path = "MetricSet.DimensionFilterList"
    filters: dict[str, frozenset] = {}
    for i, item in enumerate(check_array(value, path, empty=None)):
        at = f"{path}[{i}]"
        check_object(item, at, ("Name", "FilterList"), ("Name", "FilterList"))
        name = _dimension_ref(item["Name"], f"{at}.Name", dimensions, filters)
        values = set()
        for j, condition in enumerate(check_array(item["FilterList"], f"{at}.FilterList")):
            cat = f"{at}.FilterList[{j}]"
            check_object(condition, cat, ("DimensionValue", "FilterOperation"), ("DimensionValue",))
            check_choice(
                condition.get("FilterOperation", "EQUALS"), f"{cat}.FilterOperation", ("EQUALS",)
            )
            values.add(check_string(condition["DimensionValue"], f"{cat}.DimensionValue"))
        filters[name] = frozenset(values)
    return filters


def _metric_set(value: object, detector_name: str, frequency: str, interval: int) -> dict:
    """The DetectorSpec fields that come from the MetricSet object."""
    path = "MetricSet"
    metric_set = check_object(value, path, _METRIC_SET_FIELDS, ("MetricList", "TimestampColumn"))
    set_name = f"{detector_name[:55]}-metrics"
    if "MetricSetName" in metric_set:
        set_name = check_name(metric_set["MetricSetName"], f"{path}.MetricSetName")
    if "MetricSetDescription" in metric_set:
        check_text(metric_set["MetricSetDescription"], f"{path}.MetricSetDescription")
    if "Tags" in metric_set:
        check_tags(metric_set["Tags"], f"{path}.Tags")
    if metric_set.get("MetricSetFrequency", frequency) != frequency:
        raise SpecError(
            f"{path}.MetricSetFrequency",
            "must equal AnomalyDetectorConfig."
            f"AnomalyDetectorFrequency {frequency!r} "
            f"(got {metric_set['MetricSetFrequency']!r})",
        )
    columns: dict[str, str] = {}
    metrics = _metrics(metric_set["MetricList"], columns)
    dimensions = _dimensions(metric_set, columns)
    column, fmt, strptime_format = _timestamp(metric_set["TimestampColumn"], columns, interval)
    templated, historical, file_format = parse_metric_source(
        metric_set, (*(metric.name for metric in metrics), *dimensions, column)
    )
    return {
        "metric_set_name": set_name,
        "metrics": metrics,
        "dimensions": dimensions,
        "timestamp_column": column,
        "timestamp_format": fmt,
        "strptime_format": strptime_format,
        "timezone": check_timezone(metric_set.get("Timezone", "UTC"), f"{path}.Timezone"),
        "offset_seconds": check_integer(
            metric_set.get("Offset", 0), f"{path}.Offset", 0, MAX_OFFSET_SECONDS
        ),
        "dimension_filters": _dimension_filters(
            metric_set.get("DimensionFilterList", []), dimensions
        ),
        "templated_paths": templated,
        "historical_paths": historical,
        "file_format": file_format,
    }


def _action(value: object, path: str) -> dict:
    """The AlertSpec fields of an Action: exactly one SNS topic or Lambda function."""
    action = check_object(value, path, ("SNSConfiguration", "LambdaConfiguration"))
    if len(action) != 1:
        raise SpecError(
            path, "must contain exactly one of SNSConfiguration and LambdaConfiguration"
        )
    if "SNSConfiguration" in action:
        path = f"{path}.SNSConfiguration"
        sns = check_object(
            action["SNSConfiguration"],
            path,
            ("SnsTopicArn", "SnsFormat", "RoleArn"),
            ("SnsTopicArn",),
        )
        fields = {
            "sns_topic_arn": check_arn(sns["SnsTopicArn"], f"{path}.SnsTopicArn"),
            "sns_format": check_choice(
                sns.get("SnsFormat", "JSON"),
                f"{path}.SnsFormat",
                ("JSON", "LONG_TEXT", "SHORT_TEXT"),
            ),
            "lambda_arn": None,
        }
        config = sns
    else:
        path = f"{path}.LambdaConfiguration"
        config = check_object(
            action["LambdaConfiguration"], path, ("LambdaArn", "RoleArn"), ("LambdaArn",)
        )
        fields = {
            "sns_topic_arn": None,
            "sns_format": None,
            "lambda_arn": check_arn(config["LambdaArn"], f"{path}.LambdaArn"),
        }
    fields["role_arn"] = (
        check_arn(config["RoleArn"], f"{path}.RoleArn") if "RoleArn" in config else None
    )
    return fields


def _alert_filters(
    alert: dict, path: str, measures: tuple[str, ...], dimensions: tuple[str, ...]
) -> tuple[tuple[str, ...] | None, dict]:
    """(metric_filter, dimension_filter) of an alert's AlertFilters."""
    if "AlertFilters" not in alert:
        return None, {}
    path = f"{path}.AlertFilters"
    filters = check_object(alert["AlertFilters"], path, ("MetricList", "DimensionFilterList"))
    metric_filter = None
    if "MetricList" in filters:
        names = check_array(filters["MetricList"], f"{path}.MetricList")
        for i, name in enumerate(names):
            at = f"{path}.MetricList[{i}]"
            if check_string(name, at) not in measures:
                raise SpecError(at, f"{name!r} is not a measure (measures: {', '.join(measures)})")
            if name in names[:i]:
                raise SpecError(at, f"duplicate measure {name!r}")
        metric_filter = tuple(names)
    return metric_filter, _alert_dimension_filter(filters, path, dimensions)


def _alert_dimension_filter(filters: dict, path: str, dimensions: tuple[str, ...]) -> dict:
    """{dimension: tuple(values)} of an AlertFilters.DimensionFilterList."""
    dimension_filter: dict[str, tuple[str, ...]] = {}
    if "DimensionFilterList" not in filters:
        return dimension_filter
    path = f"{path}.DimensionFilterList"
    for i, item in enumerate(check_array(filters["DimensionFilterList"], path)):
        at = f"{path}[{i}]"
        required = ("DimensionName", "DimensionValueList")
        check_object(item, at, required, required)
        name = _dimension_ref(
            item["DimensionName"], f"{at}.DimensionName", dimensions, dimension_filter
        )
        values = check_array(item["DimensionValueList"], f"{at}.DimensionValueList")
        for j, dimension_value in enumerate(values):
            check_string(dimension_value, f"{at}.DimensionValueList[{j}]")
        dimension_filter[name] = tuple(dict.fromkeys(values))
    return dimension_filter


def _alerts(
    value: object, measures: tuple[str, ...], dimensions: tuple[str, ...]
) -> tuple[AlertSpec, ...]:
    alerts: list[AlertSpec] = []
    for i, item in enumerate(check_array(value, "Alerts", empty=None)):
        path = f"Alerts[{i}]"
        alert = check_object(
            item, path, _ALERT_FIELDS, ("AlertName", "AlertSensitivityThreshold", "Action")
        )
        name = check_name(alert["AlertName"], f"{path}.AlertName")
        if any(other.name == name for other in alerts):
            raise SpecError(f"{path}.AlertName", f"duplicate alert name {name!r}")
        description = None
        if "AlertDescription" in alert:
            description = check_text(alert["AlertDescription"], f"{path}.AlertDescription")
        if "Tags" in alert:
            check_tags(alert["Tags"], f"{path}.Tags")
        metric_filter, dimension_filter = _alert_filters(alert, path, measures, dimensions)
        alerts.append(
            AlertSpec(
                name=name,
                sensitivity_threshold=check_integer(
                    alert["AlertSensitivityThreshold"], f"{path}.AlertSensitivityThreshold", 0, 100
                ),
                description=description,
                metric_filter=metric_filter,
                dimension_filter=dimension_filter,
                **_action(alert["Action"], f"{path}.Action"),
            )
        )
    return tuple(alerts)


# ---------------------------------------------------------------------------- entry points


def parse_spec(document: dict) -> DetectorSpec:
    """Validate a definition document and return its DetectorSpec; raise SpecError if invalid."""
    if not isinstance(document, dict):
        raise SpecError("<document>", f"must be a JSON object (got {json_kind(document)})")
    try:
        doc = copy.deepcopy(document)
    except RecursionError:
        raise SpecError("<document>", "nested too deeply") from None
    check_object(
        doc, "", _TOP_FIELDS, ("AnomalyDetectorName", "AnomalyDetectorConfig", "MetricSet")
    )
    name = check_name(doc["AnomalyDetectorName"], "AnomalyDetectorName")
    description = None
    if "AnomalyDetectorDescription" in doc:
        description = check_text(doc["AnomalyDetectorDescription"], "AnomalyDetectorDescription")
    if "KmsKeyArn" in doc and not _KMS_ARN.fullmatch(
        check_string(doc["KmsKeyArn"], "KmsKeyArn", 2048)
    ):
        raise SpecError("KmsKeyArn", f"must be a KMS key ARN (got {doc['KmsKeyArn']!r})")
    if "Tags" in doc:
        check_tags(doc["Tags"], "Tags")
    path = "AnomalyDetectorConfig"
    config = check_object(
        doc[path], path, ("AnomalyDetectorFrequency",), ("AnomalyDetectorFrequency",)
    )
    frequency = config["AnomalyDetectorFrequency"]
    interval = interval_seconds(frequency, f"{path}.AnomalyDetectorFrequency")
    fields = _metric_set(doc["MetricSet"], name, frequency, interval)
    alerts = _alerts(
        doc.get("Alerts", []), tuple(m.name for m in fields["metrics"]), fields["dimensions"]
    )
    pipeline = parse_pipeline(doc)
    if pipeline.aws.glue:
        _check_crawlable(fields["templated_paths"])
    return DetectorSpec(
        name=name,
        description=description,
        frequency=frequency,
        interval_seconds=interval,
        alerts=alerts,
        document=doc,
        pipeline=pipeline,
        **fields,
    )


def _check_crawlable(templated: tuple[str, ...]) -> None:
    """With Publish.Glue: one s3:// templated path whose fixed part ends in a ``live``
    folder, which the crawler turns into the ``live`` table the datasets read."""
    field = "MetricSet.MetricSource.S3SourceConfig.TemplatedPathList"
    if len(templated) != 1 or not templated[0].startswith("s3://"):
        raise SpecError(field, "must hold exactly one s3:// path when Publish.Glue is set "
                               "(the crawler catalogues it as the `live` table)")
    if live_root(templated[0]).rsplit("/", 1)[-1] != "live":
        raise SpecError(field, "must be …/live/{{yyyyMMdd}}/… when Publish.Glue is set: the "
                               "crawler names the table after that folder and the datasets "
                               f"read the `live` table (got {templated[0]!r})")


def _reject_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    result: dict = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in one JSON object")
        result[key] = value
    return result


def parse_spec_json(text: str, source: str = "<definition>") -> DetectorSpec:
    """Parse and validate a definition from JSON text; ``source`` names it in syntax errors."""
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except json.JSONDecodeError as err:
        raise SpecError(
            source, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except ValueError as err:
        raise SpecError(source, f"invalid JSON: {err}") from None
    except RecursionError:
        raise SpecError(source, "invalid JSON: nested too deeply") from None
    return parse_spec(document)
