"""Hostile detector definitions: the parser raises SpecError naming the field, and nothing else.

Every name that reaches a file path, Athena/DuckDB SQL or a QuickSight request is checked
here against hostile text (``../``, ``/``, NUL, quotes, SQL, formulas, 1 MB, undecodable
bytes); property-based tests feed arbitrary documents and mutations of a full definition.
"""
from __future__ import annotations

import copy
import json

import pytest
from aws_definitions import aws_definition
from hostile_data import HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from l4m.spec import SpecError, parse_spec, parse_spec_json

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MESSAGE_LIMIT = 2_000  # an error message stays one short printable line


def full_definition() -> dict:
    """A definition that uses every section: AWS publishing, alerts with filters, limits."""
    doc = aws_definition()
    doc["MetricSet"]["DimensionFilterList"] = [
        {"Name": "platform", "FilterList": [{"DimensionValue": "pc_web"}]}]
    doc["Alerts"][0]["AlertFilters"] = {
        "MetricList": ["views"],
        "DimensionFilterList": [{"DimensionName": "marketplace", "DimensionValueList": ["us"]}]}
    doc["Limits"] = {"MaxTimeSeries": 5000}
    doc["Tags"] = {"team": "shop"}
    return doc


FULL = full_definition()
parse_spec(FULL)


def assert_spec_error(document: object, field: str | None = None) -> SpecError:
    """``parse_spec(document)`` fails with a SpecError naming a field (``field`` if given)."""
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    err = caught.value
    assert err.field, err
    if field is not None:
        assert err.field == field, err
    text = str(err)
    assert text.startswith(err.field + ": ")
    assert text.isprintable() and len(text) <= MESSAGE_LIMIT, text[:300]
    return err


# ---------------------------------------------------------------------------- names

CSV = "MetricSet.MetricSource.S3SourceConfig.FileFormatDescriptor.CsvFormatDescriptor"
#: Every name of the definition that reaches a path, SQL or a QuickSight request:
#: (field path as reported, how to set it in the document).
NAME_FIELDS = {
    "AnomalyDetectorName": lambda d, v: d.update(AnomalyDetectorName=v),
    "MetricSet.MetricSetName": lambda d, v: d["MetricSet"].update(MetricSetName=v),
    "MetricSet.MetricList[0].MetricName":
        lambda d, v: d["MetricSet"]["MetricList"][0].update(MetricName=v),
    "MetricSet.DimensionList[1]": lambda d, v: d["MetricSet"]["DimensionList"].__setitem__(1, v),
    "MetricSet.TimestampColumn.ColumnName":
        lambda d, v: d["MetricSet"]["TimestampColumn"].update(ColumnName=v),
    f"{CSV}.HeaderList[0]": lambda d, v: d["MetricSet"]["MetricSource"]["S3SourceConfig"][
        "FileFormatDescriptor"]["CsvFormatDescriptor"].update(
        HeaderList=[v, "platform", "marketplace", "timestamp", "views", "revenue"]),
    "Alerts[0].AlertName": lambda d, v: d["Alerts"][0].update(AlertName=v),
    "Publish.Glue.DatabaseName": lambda d, v: d["Publish"]["Glue"].update(DatabaseName=v),
    "Publish.Glue.CrawlerName": lambda d, v: d["Publish"]["Glue"].update(CrawlerName=v),
    "Publish.Athena.WorkGroup": lambda d, v: d["Publish"]["Athena"].update(WorkGroup=v),
    "Publish.QuickSight.LiveDataSetId":
        lambda d, v: d["Publish"]["QuickSight"].update(LiveDataSetId=v),
    "Publish.QuickSight.DashboardId": lambda d, v: d["Publish"]["QuickSight"].update(DashboardId=v),
    "Publish.QuickSight.Namespace": lambda d, v: d["Publish"]["QuickSight"].update(Namespace=v),
}


@pytest.mark.parametrize("value", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("field", list(NAME_FIELDS))
def test_hostile_names_are_refused_naming_the_field(field, value):
    doc = full_definition()
    NAME_FIELDS[field](doc, value)
    assert_spec_error(doc, field)


@given(st.text(min_size=1, max_size=70))
@SETTINGS
def test_any_accepted_name_is_safe_in_paths_sql_and_spreadsheets(name):
    """A name is accepted only if it is plain: no path, quote, SQL or formula character."""
    doc = full_definition()
    doc["MetricSet"]["DimensionList"].append(name)
    try:
        spec = parse_spec(doc)
    except SpecError as err:
        assert err.field == "MetricSet.DimensionList[2]", err
        return
    accepted = spec.dimensions[2]
    assert accepted.isascii() and accepted.replace("-", "").replace("_", "").isalnum()
    assert accepted[0].isalnum() and len(accepted) <= 63


# ---------------------------------------------------------------------------- messages


def test_error_messages_are_printable_and_bounded():
    doc = full_definition()
    doc["AnomalyDetectorConfig"]["AnomalyDetectorFrequency"] = "P\x00" + "1" * 1_000_000
    err = assert_spec_error(doc, "AnomalyDetectorConfig.AnomalyDetectorFrequency")
    assert "\\x00" in err.reason
    doc = full_definition()
    doc["MetricSet"]["\x00" + "x" * 1_000_000] = 1
    assert assert_spec_error(doc).field.startswith("MetricSet.\\x00xxx")


@pytest.mark.parametrize("key", ["", " ", "\t"])
def test_blank_unknown_keys_are_named(key):
    doc = full_definition()
    doc["MetricSet"][key] = 1
    assert_spec_error(doc, f"MetricSet.{key!r}")
    assert_spec_error({key: 1, **full_definition()}, repr(key))


def test_deeply_nested_documents_are_spec_errors():
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(SpecError, match="nested too deeply") as caught:
        parse_spec_json(deep, source="deep.json")
    assert caught.value.field == "deep.json"
    doc = nested = {}
    for _ in range(5_000):
        nested["x"] = {}
        nested = nested["x"]
    assert_spec_error({**full_definition(), "Tags": doc}, "<document>")


def test_csv_delimiter_and_quote_must_suit_the_readers():
    for key, value in (("Delimiter", "é"), ("Delimiter", "\x00"), ("QuoteSymbol", "\udcff"),
                       ("QuoteSymbol", "\x1e")):
        doc = full_definition()
        doc["MetricSet"]["MetricSource"]["S3SourceConfig"]["FileFormatDescriptor"][
            "CsvFormatDescriptor"] = {key: value}
        assert_spec_error(doc, f"{CSV}.{key}")


# ---------------------------------------------------------------------------- Limits


@pytest.mark.parametrize("value", [0, -1, 1.5, "10", True, None, 10**9, [], {}])
def test_limits_max_time_series_is_validated(value):
    doc = full_definition()
    doc["Limits"] = {"MaxTimeSeries": value}
    assert_spec_error(doc, "Limits.MaxTimeSeries")


def test_limits_section_is_an_extension_left_out_of_l4m_requests():
    spec = parse_spec(FULL)
    assert spec.pipeline.max_time_series == 5000
    assert "Limits" not in spec.detector_request()
    assert_spec_error({**full_definition(), "Limits": {"MaxSeries": 1}}, "Limits.MaxSeries")
    assert parse_spec(aws_definition()).pipeline.max_time_series is None


# ---------------------------------------------------------------------------- properties

_KEYS = st.sampled_from(sorted({"AnomalyDetectorName", "AnomalyDetectorConfig", "MetricSet",
                                "MetricList", "DimensionList", "TimestampColumn", "ColumnName",
                                "ColumnFormat", "Alerts", "Storage", "Publish", "Glue", "Limits",
                                "MaxTimeSeries", "MetricSource", "S3SourceConfig", ""}))
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from([*HOSTILE.values(), "PT1H", "P99999999999999999999D", "EPOCH_SECONDS",
                     "yyyy-MM-dd HH:mm:ss", "file:///tmp/x/{{yyyyMMdd}}", "s3://b/../x",
                     "Europe/Paris", "UTF-16", "GZIP", "SUM", "views", "platform"]))
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(_KEYS, st.text(max_size=10)), inner,
                                            max_size=5)),
    max_leaves=25)


def _locations(doc: object, at: tuple = ()):
    """Every (path to a value) of a JSON document, the root included."""
    yield at
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) \
        else ()
    for key, value in items:
        yield from _locations(value, (*at, key))


LOCATIONS = list(_locations(FULL))


@given(_JSON)
@SETTINGS
def test_arbitrary_documents_raise_only_spec_errors(document):
    try:
        parse_spec(document)
    except SpecError:
        assert_spec_error(document)


@given(st.sampled_from(LOCATIONS), _JSON, st.booleans())
@SETTINGS
def test_mutated_definitions_raise_only_spec_errors(location, value, delete):
    doc = copy.deepcopy(FULL)
    if not location:
        doc = value
    else:
        parent = doc
        for key in location[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[location[-1]]
        else:
            parent[location[-1]] = value
    try:
        parse_spec(doc)
    except SpecError:
        assert_spec_error(doc)


@given(st.one_of(st.text(max_size=300), _JSON.map(json.dumps)))
@SETTINGS
def test_arbitrary_json_text_raises_only_spec_errors(text):
    try:
        parse_spec_json(text, source="hostile.json")
    except SpecError as err:
        assert err.field and str(err).isprintable() and len(str(err)) <= MESSAGE_LIMIT
