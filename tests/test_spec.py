"""Tests of the detector definition (l4m.spec): L4M compatibility, errors, formats, paths."""

from __future__ import annotations

import copy
import datetime
import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from l4m.spec import (
    AlertSpec,
    CsvFormat,
    JsonFormat,
    Metric,
    SpecError,
    java_to_strptime,
    parse_spec,
    parse_spec_json,
    render_templated_path,
)

DETECTOR_ARN = "arn:aws:lookoutmetrics:us-east-1:123456789012:AnomalyDetector:ecommerce"
ROLE_ARN = "arn:aws:iam::123456789012:role/L4MRole"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:l4m-alerts"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:l4m-results"
CSV = "MetricSet.MetricSource.S3SourceConfig.FileFormatDescriptor.CsvFormatDescriptor"
S3 = "MetricSet.MetricSource.S3SourceConfig"

ECOMMERCE = {
    "AnomalyDetectorName": "ecommerce",
    "AnomalyDetectorDescription": "Hourly views and revenue per platform and marketplace",
    "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
    "MetricSet": {
        "MetricList": [
            {"MetricName": "views", "AggregationFunction": "SUM"},
            {"MetricName": "revenue", "AggregationFunction": "SUM"},
        ],
        "DimensionList": ["platform", "marketplace"],
        "TimestampColumn": {"ColumnName": "timestamp", "ColumnFormat": "yyyy-MM-dd HH:mm:ss"},
        "Timezone": "UTC",
        "Offset": 300,
        "MetricSource": {
            "S3SourceConfig": {
                "TemplatedPathList": ["s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"],
                "HistoricalDataPathList": ["s3://bucket/ecommerce/backtest/"],
                "FileFormatDescriptor": {
                    "CsvFormatDescriptor": {
                        "FileCompression": "NONE",
                        "Charset": "UTF-8",
                        "ContainsHeader": True,
                        "Delimiter": ",",
                        "QuoteSymbol": '"',
                    }
                },
            }
        },
    },
    "Alerts": [
        {
            "AlertName": "ecommerce-sns",
            "AlertSensitivityThreshold": 70,
            "Action": {
                "SNSConfiguration": {
                    "SnsTopicArn": TOPIC_ARN,
                    "SnsFormat": "JSON",
                    "RoleArn": ROLE_ARN,
                }
            },
        }
    ],
}

JSON_LINES_GZIP = {
    "AnomalyDetectorName": "daily_orders",
    "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "P1D"},
    "MetricSet": {
        "MetricSetName": "orders",
        "MetricList": [{"MetricName": "orders", "AggregationFunction": "AVG"}],
        "TimestampColumn": {"ColumnName": "day"},
        "Timezone": "Europe/Paris",
        "MetricSetFrequency": "P1D",
        "MetricSource": {
            "S3SourceConfig": {
                "RoleArn": ROLE_ARN,
                "HistoricalDataPathList": ["s3://orders-bucket/history/"],
                "FileFormatDescriptor": {
                    "JsonFormatDescriptor": {"FileCompression": "GZIP", "Charset": "UTF-8"}
                },
            }
        },
    },
}

HEADERLESS_CSV = {
    "AnomalyDetectorName": "sensors-5m",
    "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT5M"},
    "MetricSet": {
        "MetricList": [{"MetricName": "temperature", "AggregationFunction": "AVG"}],
        "DimensionList": ["site", "sensor"],
        "TimestampColumn": {"ColumnName": "ts", "ColumnFormat": "yyyyMMddHHmm"},
        "DimensionFilterList": [
            {
                "Name": "site",
                "FilterList": [
                    {"DimensionValue": "paris", "FilterOperation": "EQUALS"},
                    {"DimensionValue": "lyon"},
                ],
            }
        ],
        "MetricSource": {
            "S3SourceConfig": {
                "TemplatedPathList": ["s3://sensors/raw/{{yyyy}}/{{MM}}/{{dd}}/{{HH}}{{mm}}"],
                "FileFormatDescriptor": {
                    "CsvFormatDescriptor": {
                        "FileCompression": "GZIP",
                        "Charset": "ISO-8859-1",
                        "ContainsHeader": False,
                        "Delimiter": ";",
                        "QuoteSymbol": "",
                        "HeaderList": ["ts", "site", "sensor", "temperature", "comment"],
                    }
                },
            }
        },
    },
}

ALERTS_WITH_FILTERS = {
    "AnomalyDetectorName": "shop-10m",
    "AnomalyDetectorDescription": "Ten-minute shop metrics",
    "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT10M"},
    "KmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    "Tags": {"team": "growth"},
    "MetricSet": {
        "MetricSetDescription": "shop metrics",
        "MetricList": [
            {"MetricName": "views", "AggregationFunction": "SUM", "Namespace": "shop"},
            {"MetricName": "revenue", "AggregationFunction": "SUM"},
            {"MetricName": "latency_ms", "AggregationFunction": "AVG"},
        ],
        "DimensionList": ["platform", "marketplace"],
        "TimestampColumn": {"ColumnName": "time", "ColumnFormat": "yyyy-MM-dd'T'HH:mm:ssXXX"},
        "Tags": {"dataset": "shop"},
        "MetricSource": {
            "S3SourceConfig": {"TemplatedPathList": ["s3://shop-data/live/{{yyyy-MM-dd}}/{{HHmm}}"]}
        },
    },
    "Alerts": [
        {
            "AlertName": "revenue-to-sns",
            "AlertDescription": "revenue in the EU",
            "AlertSensitivityThreshold": 40,
            "Tags": {"route": "email"},
            "Action": {
                "SNSConfiguration": {
                    "SnsTopicArn": TOPIC_ARN,
                    "SnsFormat": "LONG_TEXT",
                    "RoleArn": ROLE_ARN,
                }
            },
            "AlertFilters": {
                "MetricList": ["revenue"],
                "DimensionFilterList": [
                    {"DimensionName": "marketplace", "DimensionValueList": ["de", "fr", "it"]}
                ],
            },
        },
        {
            "AlertName": "all-to-lambda",
            "AlertSensitivityThreshold": 0,
            "Action": {"LambdaConfiguration": {"LambdaArn": LAMBDA_ARN, "RoleArn": ROLE_ARN}},
            "AlertFilters": {"MetricList": ["views", "latency_ms"]},
        },
    ],
}

VALID_WITHIN_L4M = {
    "csv-ecommerce": ECOMMERCE,
    "jsonlines-gzip": JSON_LINES_GZIP,
    "headerless-csv": HEADERLESS_CSV,
    "alerts-with-filters": ALERTS_WITH_FILTERS,
}


# ---------------------------------------------------------------------------- botocore model


def _model_path() -> Path | None:
    candidates = [
        os.environ.get("L4M_BOTOCORE_MODEL", ""),
        Path(__file__).parent / "data" / "lookoutmetrics-2017-07-25.service-2.json.gz",
        "/work/shared/reference/lookoutmetrics-2017-07-25.service-2.json.gz",
    ]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="module")
def l4m_model():
    """The last botocore service model of Lookout for Metrics."""
    botocore_model = pytest.importorskip("botocore.model")
    path = _model_path()
    if path is None:
        pytest.skip("lookoutmetrics botocore model not found (set L4M_BOTOCORE_MODEL)")
    with gzip.open(path, "rt") as handle:
        return botocore_model.ServiceModel(json.load(handle), service_name="lookoutmetrics")


def _constraint_errors(shape, value, where: str) -> list[str]:
    """What ParamValidator leaves out: enums, maximums and patterns of the model."""
    meta = shape.metadata
    if shape.type_name == "structure":
        return [
            e
            for key, member in shape.members.items()
            if key in value
            for e in _constraint_errors(member, value[key], f"{where}.{key}")
        ]
    errors = []
    if shape.type_name in ("integer", "string", "list", "map") and "max" in meta:
        size = value if shape.type_name == "integer" else len(value)
        if size > meta["max"]:
            errors.append(f"{where}: {size} > max {meta['max']}")
    if shape.type_name == "list":
        errors += [
            e
            for i, item in enumerate(value)
            for e in _constraint_errors(shape.member, item, f"{where}[{i}]")
        ]
    elif shape.type_name == "map":
        errors += [
            e
            for key, item in value.items()
            for e in _constraint_errors(shape.key, key, f"{where} key")
            + _constraint_errors(shape.value, item, f"{where}.{key}")
        ]
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:
            errors.append(f"{where}: {value!r} not in {shape.enum}")
        if "pattern" in meta and not re.search(meta["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {meta['pattern']}")
    return errors


def assert_valid_l4m_request(model, operation: str, request: dict) -> None:
    from botocore.validate import ParamValidator

    input_shape = model.operation_model(operation).input_shape
    report = ParamValidator().validate(request, input_shape)
    assert not report.has_errors(), report.generate_report()
    assert _constraint_errors(input_shape, request, operation) == []


def assert_valid_l4m_requests(model, spec) -> None:
    assert_valid_l4m_request(model, "CreateAnomalyDetector", spec.detector_request())
    assert_valid_l4m_request(model, "CreateMetricSet", spec.metric_set_request(DETECTOR_ARN))
    for request in spec.alert_requests(DETECTOR_ARN):
        assert_valid_l4m_request(model, "CreateAlert", request)


@pytest.mark.parametrize("document", VALID_WITHIN_L4M.values(), ids=VALID_WITHIN_L4M.keys())
def test_valid_definitions_make_valid_l4m_requests(l4m_model, document):
    spec = parse_spec(document)
    assert spec.within_l4m_limits(), spec.extensions_used()
    assert_valid_l4m_requests(l4m_model, spec)


# ---------------------------------------------------------------------------- hypothesis

_NAME = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,20}", fullmatch=True).filter(
    lambda name: name.lower() not in ("key", "timestamp")
)
_ARN = st.sampled_from([ROLE_ARN, TOPIC_ARN, LAMBDA_ARN])
_VALUE = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
_FORMATS = [
    None,
    "yyyy-MM-dd HH:mm:ss",
    "yyyy-MM-dd'T'HH:mm:ssXXX",
    "yyyy/MM/dd HH:mm",
    "dd/MM/yyyy HH:mm:ss",
    "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
    "yyyyMMddHHmm",
]


@st.composite
def _file_formats(draw, columns: list[str]) -> dict:
    compression = draw(st.sampled_from(["NONE", "GZIP"]))
    charset = draw(st.sampled_from(["UTF-8", "ISO-8859-1", "US-ASCII", "UTF-16"]))
    if draw(st.booleans()):
        return {"JsonFormatDescriptor": {"FileCompression": compression, "Charset": charset}}
    delimiter = draw(st.sampled_from([",", ";", "|", "\t"]))
    csv = {
        "FileCompression": compression,
        "Charset": charset,
        "Delimiter": delimiter,
        "QuoteSymbol": draw(st.sampled_from(['"', "'", ""])),
        "ContainsHeader": draw(st.booleans()),
    }
    if not csv["ContainsHeader"] or draw(st.booleans()):
        csv["HeaderList"] = draw(st.permutations(columns))
    return {"CsvFormatDescriptor": csv}


@st.composite
def _alerts(draw, measures: list[str], dimensions: list[str]) -> list[dict]:
    alerts = []
    for name in draw(st.lists(_NAME, max_size=3, unique=True)):
        if draw(st.booleans()):
            action = {
                "SNSConfiguration": {
                    "SnsTopicArn": TOPIC_ARN,
                    "RoleArn": draw(_ARN),
                    "SnsFormat": draw(st.sampled_from(["JSON", "LONG_TEXT", "SHORT_TEXT"])),
                }
            }
        else:
            action = {"LambdaConfiguration": {"LambdaArn": LAMBDA_ARN, "RoleArn": draw(_ARN)}}
        alert = {
            "AlertName": name,
            "Action": action,
            "AlertSensitivityThreshold": draw(st.integers(0, 100)),
        }
        filters = {}
        if draw(st.booleans()):
            filters["MetricList"] = draw(
                st.lists(st.sampled_from(measures), min_size=1, unique=True)
            )
        if dimensions and draw(st.booleans()):
            filters["DimensionFilterList"] = [
                {
                    "DimensionName": dim,
                    "DimensionValueList": draw(st.lists(_VALUE, min_size=1, max_size=10)),
                }
                for dim in draw(st.lists(st.sampled_from(dimensions), min_size=1, unique=True))
            ]
        if filters:
            alert["AlertFilters"] = filters
        alerts.append(alert)
    return alerts


@st.composite
def l4m_definitions(draw) -> dict:
    """Definitions within L4M's own limits."""
    columns = draw(st.lists(_NAME, min_size=2, max_size=11, unique_by=str.lower))
    n_measures = draw(st.integers(1, min(5, len(columns) - 1)))
    measures, timestamp, dimensions = (
        columns[:n_measures],
        columns[n_measures],
        columns[n_measures + 1 : n_measures + 6],
    )
    metric_set = {
        "MetricList": [
            {"MetricName": name, "AggregationFunction": draw(st.sampled_from(["SUM", "AVG"]))}
            for name in measures
        ],
        "TimestampColumn": {"ColumnName": timestamp},
    }
    fmt = draw(st.sampled_from(_FORMATS))
    if fmt:
        metric_set["TimestampColumn"]["ColumnFormat"] = fmt
    if dimensions:
        metric_set["DimensionList"] = dimensions
        if draw(st.booleans()):
            metric_set["DimensionFilterList"] = [
                {
                    "Name": dimensions[0],
                    "FilterList": [
                        {"DimensionValue": v} for v in draw(st.lists(_VALUE, min_size=1))
                    ],
                }
            ]
    for key, strategy in (
        ("Offset", st.integers(0, 432_000)),
        ("Timezone", st.sampled_from(["UTC", "Europe/Paris", "Asia/Tokyo"])),
        ("MetricSetName", _NAME),
    ):
        if draw(st.booleans()):
            metric_set[key] = draw(strategy)
    bucket = draw(st.from_regex(r"[a-z0-9][a-z0-9-]{2,20}", fullmatch=True))
    s3 = {
        "TemplatedPathList": [f"s3://{bucket}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
        "HistoricalDataPathList": [f"s3://{bucket}/backtest/"],
        "FileFormatDescriptor": draw(_file_formats(columns[: n_measures + 6])),
    }
    if draw(st.booleans()):
        del s3[draw(st.sampled_from(["TemplatedPathList", "HistoricalDataPathList"]))]
    metric_set["MetricSource"] = {"S3SourceConfig": s3}
    return {
        "AnomalyDetectorName": draw(_NAME),
        "AnomalyDetectorConfig": {
            "AnomalyDetectorFrequency": draw(st.sampled_from(["PT5M", "PT10M", "PT1H", "P1D"]))
        },
        "MetricSet": metric_set,
        "Alerts": draw(_alerts(measures, dimensions)),
    }


@settings(max_examples=150, deadline=None)
@given(document=l4m_definitions())
def test_generated_definitions_within_l4m_limits_make_valid_requests(l4m_model, document):
    spec = parse_spec(document)
    assert spec.within_l4m_limits(), spec.extensions_used()
    assert_valid_l4m_requests(l4m_model, spec)


# ---------------------------------------------------------------------------- extensions


def _changed(document: dict, path: str, value=None, *, delete: bool = False) -> dict:
    """A deep copy of ``document`` with the field at ``path`` (a.b[0].c) set or deleted."""
    result = copy.deepcopy(document)
    keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
    parent = result
    for key in keys[:-1]:
        parent = parent[key]
    if delete:
        del parent[keys[-1]]
    else:
        parent[keys[-1]] = value
    return result


# id: (path, value or None to delete, whether L4M's service model itself rejects the request)
EXTENSIONS = {
    "PT15M": ("AnomalyDetectorConfig.AnomalyDetectorFrequency", "PT15M", True),
    "file-path": (
        f"{S3}.TemplatedPathList",
        ["file:///data/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}"],
        True,
    ),
    "two-paths": (f"{S3}.HistoricalDataPathList", ["s3://bucket/a/", "s3://bucket/b/"], True),
    "alert-without-role": ("Alerts[0].Action.SNSConfiguration.RoleArn", None, True),
    "epoch": ("MetricSet.TimestampColumn.ColumnFormat", "EPOCH_SECONDS", False),
    "six-measures": (
        "MetricSet.MetricList",
        [{"MetricName": f"m{i}", "AggregationFunction": "SUM"} for i in range(6)],
        False,
    ),
    "no-source": ("MetricSet.MetricSource", None, False),
}


@pytest.mark.parametrize("path, value, model_rejects", EXTENSIONS.values(), ids=EXTENSIONS.keys())
def test_extensions_are_accepted_but_not_within_l4m_limits(l4m_model, path, value, model_rejects):
    spec = parse_spec(_changed(ECOMMERCE, path, value, delete=value is None))
    assert not spec.within_l4m_limits()
    assert spec.extensions_used()
    if model_rejects:  # the checks above have teeth: they catch what L4M's model forbids
        with pytest.raises(AssertionError):
            assert_valid_l4m_requests(l4m_model, spec)


def test_extension_values_are_parsed():
    spec = parse_spec(
        _changed(ECOMMERCE, "AnomalyDetectorConfig.AnomalyDetectorFrequency", "PT15M")
    )
    assert spec.interval_seconds == 900
    assert (
        parse_spec(
            _changed(ECOMMERCE, "AnomalyDetectorConfig.AnomalyDetectorFrequency", "P7D")
        ).interval_seconds
        == 7 * 86_400
    )
    assert (
        parse_spec(
            _changed(ECOMMERCE, "AnomalyDetectorConfig.AnomalyDetectorFrequency", "PT1M30S")
        ).interval_seconds
        == 90
    )
    measures = [{"MetricName": f"m{i}", "AggregationFunction": "AVG"} for i in range(50)]
    assert len(parse_spec(_changed(ECOMMERCE, "MetricSet.MetricList", measures)).metrics) == 50


# ---------------------------------------------------------------------------- parsed values


def test_ecommerce_spec_fields():
    spec = parse_spec(ECOMMERCE)
    assert spec.name == "ecommerce"
    assert (spec.frequency, spec.interval_seconds) == ("PT1H", 3600)
    assert spec.metrics == (Metric("views", "SUM"), Metric("revenue", "SUM"))
    assert spec.measure_names == ("views", "revenue")
    assert spec.dimensions == ("platform", "marketplace")
    assert spec.timestamp_column == "timestamp"
    assert spec.timestamp_format == "yyyy-MM-dd HH:mm:ss"
    assert spec.strptime_format == "%Y-%m-%d %H:%M:%S"
    assert (spec.timezone, spec.offset_seconds) == ("UTC", 300)
    assert spec.metric_set_name == "ecommerce-metrics"
    assert spec.templated_paths == ("s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}",)
    assert spec.historical_paths == ("s3://bucket/ecommerce/backtest/",)
    assert spec.file_format == CsvFormat()
    assert spec.alerts == (
        AlertSpec("ecommerce-sns", 70, None, TOPIC_ARN, "JSON", None, ROLE_ARN, None, {}),
    )
    assert spec.document == ECOMMERCE and spec.document is not ECOMMERCE


def test_defaults_when_optional_parts_are_omitted():
    document = {
        "AnomalyDetectorName": "a" * 63,
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": "views", "AggregationFunction": "SUM"}],
            "TimestampColumn": {"ColumnName": "timestamp"},
        },
    }
    spec = parse_spec(document)
    assert (spec.timestamp_format, spec.strptime_format) == (None, None)
    assert (spec.timezone, spec.offset_seconds, spec.description) == ("UTC", 0, None)
    assert (spec.dimensions, spec.alerts, spec.dimension_filters) == ((), (), {})
    assert (spec.templated_paths, spec.historical_paths) == ((), ())
    assert spec.file_format == CsvFormat()
    assert len(spec.metric_set_name) <= 63 and spec.metric_set_name.endswith("-metrics")
    request = spec.metric_set_request(DETECTOR_ARN)
    assert request["MetricSetName"] == spec.metric_set_name
    assert request["MetricSetFrequency"] == "PT1H"


def test_other_parsed_formats_and_filters():
    json_spec = parse_spec(JSON_LINES_GZIP)
    assert json_spec.file_format == JsonFormat(compression="GZIP", charset="utf-8")
    assert (json_spec.metric_set_name, json_spec.timezone) == ("orders", "Europe/Paris")
    headerless = parse_spec(HEADERLESS_CSV)
    assert headerless.file_format == CsvFormat(
        compression="GZIP",
        charset="iso8859-1",
        contains_header=False,
        delimiter=";",
        header_list=("ts", "site", "sensor", "temperature", "comment"),
        quote_symbol="",
    )
    assert headerless.dimension_filters == {"site": frozenset({"paris", "lyon"})}
    assert headerless.strptime_format == "%Y%m%d%H%M"
    sns, lam = parse_spec(ALERTS_WITH_FILTERS).alerts
    assert (sns.sns_format, sns.metric_filter, sns.dimension_filter) == (
        "LONG_TEXT",
        ("revenue",),
        {"marketplace": ("de", "fr", "it")},
    )
    assert (lam.lambda_arn, lam.sns_topic_arn, lam.metric_filter, lam.sensitivity_threshold) == (
        LAMBDA_ARN,
        None,
        ("views", "latency_ms"),
        0,
    )


def test_requests_carry_the_document_fields():
    spec = parse_spec(ALERTS_WITH_FILTERS)
    assert spec.detector_request() == {
        key: ALERTS_WITH_FILTERS[key]
        for key in (
            "AnomalyDetectorName",
            "AnomalyDetectorDescription",
            "AnomalyDetectorConfig",
            "KmsKeyArn",
            "Tags",
        )
    }
    alerts = spec.alert_requests(DETECTOR_ARN)
    assert [a["AnomalyDetectorArn"] for a in alerts] == [DETECTOR_ARN] * 2
    assert alerts[0]["AlertFilters"] == ALERTS_WITH_FILTERS["Alerts"][0]["AlertFilters"]
    with pytest.raises(SpecError) as err:
        spec.metric_set_request("not-an-arn")
    assert err.value.field == "AnomalyDetectorArn"


def test_parse_spec_does_not_keep_references_to_the_input():
    document = copy.deepcopy(ECOMMERCE)
    spec = parse_spec(document)
    document["MetricSet"]["MetricList"].clear()
    assert len(spec.document["MetricSet"]["MetricList"]) == 2
    spec.metric_set_request(DETECTOR_ARN)["MetricList"].clear()
    assert len(spec.document["MetricSet"]["MetricList"]) == 2


# ---------------------------------------------------------------------------- invalid documents

_METRIC = "MetricSet.MetricList"
_ALERT = "Alerts[0]"
_BOTH_ACTIONS = {
    "SNSConfiguration": {"SnsTopicArn": TOPIC_ARN},
    "LambdaConfiguration": {"LambdaArn": LAMBDA_ARN},
}

INVALID = {
    # id: (path to change, new value or DELETE, expected SpecError.field, reason keyword)
    "unknown-top-field": (
        "AnomalyDetectorNmae",
        "x",
        "AnomalyDetectorNmae",
        "did you mean 'AnomalyDetectorName'",
    ),
    "unknown-nested-field": (
        "MetricSet.Dimensions",
        ["a"],
        "MetricSet.Dimensions",
        "unknown field",
    ),
    "unknown-csv-field": (f"{CSV}.Separator", ";", f"{CSV}.Separator", "unknown field"),
    "aggregation": (
        f"{_METRIC}[1].AggregationFunction",
        "MAX",
        f"{_METRIC}[1].AggregationFunction",
        "must be one of SUM, AVG (got 'MAX')",
    ),
    "name-pattern": (
        "AnomalyDetectorName",
        "ecommerce detector",
        "AnomalyDetectorName",
        "letters, digits",
    ),
    "name-length": ("AnomalyDetectorName", "e" * 64, "AnomalyDetectorName", "at most 63"),
    "name-missing": ("AnomalyDetectorName", "DELETE", "AnomalyDetectorName", "required"),
    "description-length": (
        "AnomalyDetectorDescription",
        "d" * 257,
        "AnomalyDetectorDescription",
        "at most 256",
    ),
    "description-blank": (
        "AnomalyDetectorDescription",
        "  ",
        "AnomalyDetectorDescription",
        "blank",
    ),
    "frequency-uneven": (
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "PT7M",
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "divide a day",
    ),
    "frequency-months": (
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "P1M",
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "months",
    ),
    "frequency-seconds": (
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "PT30S",
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "at least 1 minute",
    ),
    "frequency-garbage": (
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "hourly",
        "AnomalyDetectorConfig.AnomalyDetectorFrequency",
        "ISO-8601",
    ),
    "metric-set-frequency": (
        "MetricSet.MetricSetFrequency",
        "P1D",
        "MetricSet.MetricSetFrequency",
        "must equal",
    ),
    "offset-range": ("MetricSet.Offset", 432_001, "MetricSet.Offset", "between 0 and 432000"),
    "offset-type": ("MetricSet.Offset", "300", "MetricSet.Offset", "must be an integer"),
    "offset-bool": ("MetricSet.Offset", True, "MetricSet.Offset", "must be an integer"),
    "timezone": ("MetricSet.Timezone", "Mars/Olympus_Mons", "MetricSet.Timezone", "IANA"),
    "no-measure": (_METRIC, [], _METRIC, "at least one measure"),
    "too-many-measures": (
        _METRIC,
        [{"MetricName": f"m{i}", "AggregationFunction": "SUM"} for i in range(51)],
        _METRIC,
        "at most 50",
    ),
    "duplicate-measure": (
        f"{_METRIC}[1].MetricName",
        "views",
        f"{_METRIC}[1].MetricName",
        "already used",
    ),
    "duplicate-measure-case": (
        f"{_METRIC}[1].MetricName",
        "Views",
        f"{_METRIC}[1].MetricName",
        "case-insensitively",
    ),
    "measure-is-dimension": (
        "MetricSet.DimensionList",
        ["platform", "views"],
        "MetricSet.DimensionList[1]",
        "already used",
    ),
    "empty-dimension-list": (
        "MetricSet.DimensionList",
        [],
        "MetricSet.DimensionList",
        "must not be empty",
    ),
    "timestamp-is-dimension": (
        "MetricSet.TimestampColumn.ColumnName",
        "platform",
        "MetricSet.TimestampColumn.ColumnName",
        "already used",
    ),
    "reserved-dimension": (
        "MetricSet.DimensionList",
        ["key"],
        "MetricSet.DimensionList[0]",
        "reserved",
    ),
    "timestamp-missing": (
        "MetricSet.TimestampColumn",
        "DELETE",
        "MetricSet.TimestampColumn",
        "required",
    ),
    "format-letter": (
        "MetricSet.TimestampColumn.ColumnFormat",
        "yyyy-MM-dd HH:mm:ss zzz",
        "MetricSet.TimestampColumn.ColumnFormat",
        "unsupported pattern letters",
    ),
    "format-unquoted-T": (
        "MetricSet.TimestampColumn.ColumnFormat",
        "yyyy-MM-ddTHH:mm:ss",
        "MetricSet.TimestampColumn.ColumnFormat",
        "'T'",
    ),
    "format-no-hour": (
        "MetricSet.TimestampColumn.ColumnFormat",
        "yyyy-MM-dd",
        "MetricSet.TimestampColumn.ColumnFormat",
        "no hour",
    ),
    "format-quote": (
        "MetricSet.TimestampColumn.ColumnFormat",
        "yyyy-MM-dd'T HH",
        "MetricSet.TimestampColumn.ColumnFormat",
        "unterminated quote",
    ),
    "metric-set-filter-dimension": (
        "MetricSet.DimensionFilterList",
        [{"Name": "country", "FilterList": [{"DimensionValue": "us"}]}],
        "MetricSet.DimensionFilterList[0].Name",
        "is not a dimension",
    ),
    "metric-set-filter-operation": (
        "MetricSet.DimensionFilterList",
        [
            {
                "Name": "platform",
                "FilterList": [{"DimensionValue": "us", "FilterOperation": "CONTAINS"}],
            }
        ],
        "MetricSet.DimensionFilterList[0].FilterList[0].FilterOperation",
        "EQUALS",
    ),
    "path-scheme": (
        f"{S3}.TemplatedPathList",
        ["https://bucket/live/{{yyyyMMdd}}"],
        f"{S3}.TemplatedPathList[0]",
        "must start with s3:// or file://",
    ),
    "path-placeholder": (
        f"{S3}.TemplatedPathList",
        ["s3://bucket/live/{{yyyyMMddss}}"],
        f"{S3}.TemplatedPathList[0]",
        "unsupported placeholder",
    ),
    "path-braces": (
        f"{S3}.TemplatedPathList",
        ["s3://bucket/live/{{yyyyMMdd}"],
        f"{S3}.TemplatedPathList[0]",
        "unbalanced",
    ),
    "historical-placeholder": (
        f"{S3}.HistoricalDataPathList",
        ["s3://bucket/{{yyyy}}/"],
        f"{S3}.HistoricalDataPathList[0]",
        "only allowed in",
    ),
    "path-no-bucket": (
        f"{S3}.HistoricalDataPathList",
        ["s3://"],
        f"{S3}.HistoricalDataPathList[0]",
        "no bucket",
    ),
    "appflow-source": (
        "MetricSet.MetricSource",
        {"AppFlowConfig": {"FlowName": "f"}},
        "MetricSet.MetricSource.AppFlowConfig",
        "not supported, use S3SourceConfig",
    ),
    "athena-source": (
        "MetricSet.MetricSource",
        {"AthenaSourceConfig": {}},
        "MetricSet.MetricSource.AthenaSourceConfig",
        "not supported",
    ),
    "source-role-arn": (f"{S3}.RoleArn", "role", f"{S3}.RoleArn", "must be an ARN"),
    "both-file-formats": (
        f"{S3}.FileFormatDescriptor",
        {"CsvFormatDescriptor": {}, "JsonFormatDescriptor": {}},
        f"{S3}.FileFormatDescriptor",
        "exactly one of",
    ),
    "csv-compression": (
        f"{CSV}.FileCompression",
        "ZIP",
        f"{CSV}.FileCompression",
        "must be one of NONE, GZIP",
    ),
    "json-compression": (
        f"{S3}.FileFormatDescriptor",
        {"JsonFormatDescriptor": {"FileCompression": "BZIP2"}},
        f"{S3}.FileFormatDescriptor.JsonFormatDescriptor.FileCompression",
        "must be one of",
    ),
    "charset": (f"{CSV}.Charset", "klingon", f"{CSV}.Charset", "unknown text encoding"),
    "delimiter-two-chars": (f"{CSV}.Delimiter", ",,", f"{CSV}.Delimiter", "exactly one character"),
    "delimiter-newline": (f"{CSV}.Delimiter", "\n", f"{CSV}.Delimiter", "line break"),
    "quote-two-chars": (f"{CSV}.QuoteSymbol", "''", f"{CSV}.QuoteSymbol", "at most one"),
    "quote-is-delimiter": (f"{CSV}.QuoteSymbol", ",", f"{CSV}.QuoteSymbol", "differ"),
    "contains-header-type": (
        f"{CSV}.ContainsHeader",
        "yes",
        f"{CSV}.ContainsHeader",
        "true or false",
    ),
    "header-list-required": (
        f"{CSV}.ContainsHeader",
        False,
        f"{CSV}.HeaderList",
        "required when ContainsHeader is false",
    ),
    "header-list-incomplete": (
        f"{CSV}.HeaderList",
        ["timestamp", "platform", "marketplace", "views"],
        f"{CSV}.HeaderList",
        "must contain the column 'revenue'",
    ),
    "header-list-duplicate": (
        f"{CSV}.HeaderList",
        ["views", "views"],
        f"{CSV}.HeaderList[1]",
        "duplicate",
    ),
    "alert-threshold": (
        f"{_ALERT}.AlertSensitivityThreshold",
        101,
        f"{_ALERT}.AlertSensitivityThreshold",
        "between 0 and 100",
    ),
    "alert-threshold-missing": (
        f"{_ALERT}.AlertSensitivityThreshold",
        "DELETE",
        f"{_ALERT}.AlertSensitivityThreshold",
        "required",
    ),
    "sns-format": (
        f"{_ALERT}.Action.SNSConfiguration.SnsFormat",
        "XML",
        f"{_ALERT}.Action.SNSConfiguration.SnsFormat",
        "must be one of JSON, LONG_TEXT, SHORT_TEXT",
    ),
    "sns-topic-arn": (
        f"{_ALERT}.Action.SNSConfiguration.SnsTopicArn",
        "my-topic",
        f"{_ALERT}.Action.SNSConfiguration.SnsTopicArn",
        "must be an ARN",
    ),
    "two-actions": (f"{_ALERT}.Action", _BOTH_ACTIONS, f"{_ALERT}.Action", "exactly one of"),
    "no-action": (f"{_ALERT}.Action", {}, f"{_ALERT}.Action", "exactly one of"),
    "alert-filter-measure": (
        f"{_ALERT}.AlertFilters",
        {"MetricList": ["clicks"]},
        f"{_ALERT}.AlertFilters.MetricList[0]",
        "is not a measure",
    ),
    "alert-filter-dimension": (
        f"{_ALERT}.AlertFilters",
        {"DimensionFilterList": [{"DimensionName": "country", "DimensionValueList": ["us"]}]},
        f"{_ALERT}.AlertFilters.DimensionFilterList[0].DimensionName",
        "is not a dimension",
    ),
    "alert-filter-no-values": (
        f"{_ALERT}.AlertFilters",
        {"DimensionFilterList": [{"DimensionName": "platform", "DimensionValueList": []}]},
        f"{_ALERT}.AlertFilters.DimensionFilterList[0].DimensionValueList",
        "must not be empty",
    ),
    "duplicate-alert": (
        "Alerts[1]",
        copy.deepcopy(ECOMMERCE["Alerts"][0]),
        "Alerts[1].AlertName",
        "duplicate alert name",
    ),
    "alerts-type": ("Alerts", {"AlertName": "a"}, "Alerts", "must be an array"),
    "kms-key": ("KmsKeyArn", "arn:aws:kms:key", "KmsKeyArn", "KMS key ARN"),
    "tag-value": ("Tags", {"team": "t" * 257}, "Tags.team", "at most 256"),
    "namespace": (f"{_METRIC}[0].Namespace", ":ns", f"{_METRIC}[0].Namespace", "':'"),
}


@pytest.mark.parametrize("path, value, field, keyword", INVALID.values(), ids=INVALID.keys())
def test_invalid_definitions_name_the_field_and_the_reason(path, value, field, keyword):
    if path == "Alerts[1]":
        document = copy.deepcopy(ECOMMERCE)
        document["Alerts"].append(value)
    else:
        document = _changed(ECOMMERCE, path, value, delete=value == "DELETE")
    with pytest.raises(SpecError) as err:
        parse_spec(document)
    assert err.value.field == field
    assert keyword in err.value.reason
    assert str(err.value) == f"{field}: {err.value.reason}"


def test_spec_error_is_a_value_error_that_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(SpecError("MetricSet.Offset", "must be an integer")))
    assert isinstance(error, ValueError)
    assert (error.field, error.reason) == ("MetricSet.Offset", "must be an integer")
    assert str(error) == "MetricSet.Offset: must be an integer"


def test_document_must_be_an_object():
    with pytest.raises(SpecError) as err:
        parse_spec(["not", "a", "dict"])
    assert err.value.field == "<document>"


def test_parse_spec_json_reports_source_and_line():
    text = json.dumps(ECOMMERCE, indent=2)
    assert parse_spec_json(text).name == "ecommerce"
    broken = text.replace('"Timezone": "UTC",', '"Timezone": "UTC"', 1)
    line = text[: text.index('"Timezone"')].count("\n") + 2
    with pytest.raises(SpecError) as err:
        parse_spec_json(broken, source="dags/ecommerce.json")
    assert err.value.field == "dags/ecommerce.json"
    assert f"line {line}" in err.value.reason
    with pytest.raises(SpecError) as err:
        parse_spec_json('{"AnomalyDetectorName": "a", "AnomalyDetectorName": "b"}')
    assert err.value.field == "<definition>"
    assert "duplicate key 'AnomalyDetectorName'" in err.value.reason


# ---------------------------------------------------------------------------- timestamp formats

FORMATS = {
    "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S",
    "yyyy-MM-dd'T'HH:mm:ssXXX": "%Y-%m-%dT%H:%M:%S%z",
    "yyyy/MM/dd HH:mm": "%Y/%m/%d %H:%M",
    "dd/MM/yyyy HH:mm:ss": "%d/%m/%Y %H:%M:%S",
    "yyyy-MM-dd'T'HH:mm:ss.SSSZ": "%Y-%m-%dT%H:%M:%S.%f%z",
    "yyyyMMddHHmm": "%Y%m%d%H%M",
    "dd MMM yyyy hh:mm a": "%d %b %Y %I:%M %p",
    "EEE, dd MMMM yy HH:mm": "%a, %d %B %y %H:%M",
    "yyyy-DDD HH:mm": "%Y-%j %H:%M",
    "h 'o''clock' a, yyyy-MM-dd": "%I o'clock %p, %Y-%m-%d",
    "yyyy-MM-dd '100%' HH": "%Y-%m-%d 100%% %H",
}


@pytest.mark.parametrize("java, expected", FORMATS.items(), ids=FORMATS.keys())
def test_java_to_strptime(java, expected):
    assert java_to_strptime(java) == expected


JAVA_SAMPLES = [
    ("yyyy-MM-dd HH:mm:ss", "2021-02-14 04:00:00", datetime.datetime(2021, 2, 14, 4)),
    (
        "yyyy-MM-dd'T'HH:mm:ssXXX",
        "2021-02-14T04:00:00+02:00",
        datetime.datetime(2021, 2, 14, 4, tzinfo=datetime.timezone(datetime.timedelta(hours=2))),
    ),
    (
        "yyyy-MM-dd'T'HH:mm:ssXXX",
        "2021-02-14T04:00:00Z",
        datetime.datetime(2021, 2, 14, 4, tzinfo=datetime.timezone.utc),
    ),
    (
        "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "2021-02-14T04:00:00.250+0000",
        datetime.datetime(2021, 2, 14, 4, 0, 0, 250_000, tzinfo=datetime.timezone.utc),
    ),
    ("dd/MM/yyyy HH:mm:ss", "14/02/2021 16:30:05", datetime.datetime(2021, 2, 14, 16, 30, 5)),
    ("yyyyMMddHHmm", "202102140405", datetime.datetime(2021, 2, 14, 4, 5)),
]


@pytest.mark.parametrize("java, text, expected", JAVA_SAMPLES)
def test_java_formats_parse_timestamps_written_by_java(java, text, expected):
    assert datetime.datetime.strptime(text, java_to_strptime(java)) == expected


# Java format -> the finest unit it keeps
ROUND_TRIP = {
    "yyyy-MM-dd HH:mm:ss": "second",
    "yyyy-MM-dd'T'HH:mm:ssXXX": "second",
    "yyyy/MM/dd HH:mm": "minute",
    "dd/MM/yyyy HH:mm:ss": "second",
    "yyyy-MM-dd'T'HH:mm:ss.SSSZ": "microsecond",
    "yyyyMMddHHmm": "minute",
    "dd MMM yyyy hh:mm a": "minute",
    "yyyy-DDD HH:mm": "minute",
    "h 'o''clock' a, yyyy-MM-dd": "hour",
}
_UNITS = ("hour", "minute", "second", "microsecond")


@settings(max_examples=300, deadline=None)
@given(
    java=st.sampled_from(sorted(ROUND_TRIP)),
    moment=st.datetimes(datetime.datetime(1970, 1, 1), datetime.datetime(2068, 12, 31)),
)
def test_java_formats_round_trip(java, moment):
    fmt = java_to_strptime(java)
    if "%z" in fmt:
        moment = moment.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    finer_units = _UNITS[_UNITS.index(ROUND_TRIP[java]) + 1 :]
    expected = moment.replace(**dict.fromkeys(finer_units, 0))
    assert datetime.datetime.strptime(moment.strftime(fmt), fmt) == expected


@pytest.mark.parametrize(
    "java",
    [
        "yyyy-MM-dd HH:mm:ss zzz",
        "yyyy-MM-dd[ HH:mm]",
        "yyyy-MM-ddTHH",
        "yyyyy-MM-dd",
        "yyyy-MM-dd'T",
        "",
        "  ",
    ],
)
def test_java_to_strptime_rejects(java):
    with pytest.raises(SpecError) as err:
        java_to_strptime(java)
    assert err.value.field == "ColumnFormat"


# ---------------------------------------------------------------------------- templated paths

MOMENT = datetime.datetime(2021, 2, 14, 4, 5)
TEMPLATES = {
    "s3://bucket/ecommerce/live/{{yyyyMMdd}}/{{HHmm}}": "s3://bucket/ecommerce/live/20210214/0405",
    "file:///data/live/{{yyyyMMdd}}/{{HHmm}}": "file:///data/live/20210214/0405",
    "s3://b/{{yyyy}}/{{MM}}/{{dd}}/{{HH}}/{{mm}}": "s3://b/2021/02/14/04/05",
    "s3://b/{{yyyy-MM-dd}}/{{yyyyMMddHHmm}}": "s3://b/2021-02-14/202102140405",
    "s3://b/dt={{yyyy-MM-dd HH.mm}}/x": "s3://b/dt=2021-02-14 04.05/x",
    "s3://b/{{yy}}_{{MM}}/100%/static": "s3://b/21_02/100%/static",
    "s3://b/no/placeholders/": "s3://b/no/placeholders/",
}


@pytest.mark.parametrize("template, expected", TEMPLATES.items(), ids=TEMPLATES.keys())
def test_render_templated_path(template, expected):
    assert render_templated_path(template, MOMENT) == expected


def test_render_templated_path_uses_the_given_wall_clock():
    paris = MOMENT.replace(tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert render_templated_path("s3://b/{{HHmm}}", paris) == "s3://b/0405"


@pytest.mark.parametrize(
    "template",
    [
        "s3://b/{{yyyyMMddss}}",
        "s3://b/{{yyyy}",
        "s3://b/{{}}",
        "s3://b/{{M}}",
        "s3://b/{{yyyy:MM}}",
        "s3://b/{yyyy}",
    ],
)
def test_render_templated_path_rejects_bad_placeholders(template):
    with pytest.raises(SpecError) as err:
        render_templated_path(template, MOMENT)
    assert err.value.field == "template"


# ---------------------------------------------------------------------------- documentation


def test_complete_examples_in_the_docs_are_valid():
    docs = Path(__file__).resolve().parents[1] / "docs" / "definition.md"
    if not docs.is_file():
        pytest.skip("docs/definition.md not found")
    blocks = re.findall(r"```json\n(.*?)```", docs.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks
    for block in blocks:
        spec = parse_spec_json(block, source=str(docs))
        assert spec.measure_names == ("views", "revenue")
        assert spec.dimensions == ("platform", "marketplace")
        assert spec.extensions_used() == tuple(
            f"{label} path {path!r} (L4M: s3:// with its character set)"
            for label, path in (
                ("TemplatedPathList", spec.templated_paths[0]),
                ("HistoricalDataPathList", spec.historical_paths[0]),
            )
        )


# ---------------------------------------------------------------------------- import hygiene


def test_import_loads_no_airflow_pandas_or_numpy():
    code = (
        "import sys, l4m.spec; "
        "print(sorted(m for m in ('airflow', 'pandas', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
