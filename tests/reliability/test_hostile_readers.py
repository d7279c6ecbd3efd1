"""Hostile input files: the readers raise only InputError, and every row is either used or
quarantined with its file, row, field and reason.

Property-based tests feed arbitrary bytes, arbitrary CSV rows and arbitrary JSON lines in
every supported format; explicit cases cover NUL, undecodable bytes, 1 MB cells, bad
numbers and timestamps, and formula, path and SQL payloads in dimension values.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest
from hostile_data import HOSTILE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from l4m.io import InputError, read_records, write_quarantine_csv
from l4m.io.cells import restore_cell
from l4m.spec import parse_spec

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
COLUMNS = ["platform", "marketplace", "timestamp", "views", "revenue"]
HEADER = ",".join(COLUMNS)


def make_spec(*, csv_format: dict | None = None, json_lines: bool = False,
              column_format: str | None = "yyyy-MM-dd HH:mm:ss", timezone: str = "UTC"):
    timestamp = {"ColumnName": "timestamp"}
    if column_format:
        timestamp["ColumnFormat"] = column_format
    descriptor = ({"JsonFormatDescriptor": {}} if json_lines
                  else {"CsvFormatDescriptor": csv_format or {}})
    return parse_spec({
        "AnomalyDetectorName": "hostile",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": m, "AggregationFunction": "SUM"}
                           for m in ("views", "revenue")],
            "DimensionList": ["platform", "marketplace"],
            "TimestampColumn": timestamp,
            "Timezone": timezone,
            "MetricSource": {"S3SourceConfig": {"FileFormatDescriptor": descriptor}}}})


SPECS = {
    "csv": make_spec(),
    "csv-auto-time-paris": make_spec(column_format=None, timezone="Europe/Paris"),
    "csv-epoch": make_spec(column_format="EPOCH_SECONDS"),
    "csv-semicolon-single-quote": make_spec(csv_format={"Delimiter": ";", "QuoteSymbol": "'"}),
    "csv-no-quoting": make_spec(csv_format={"QuoteSymbol": ""}),
    "csv-header-list": make_spec(csv_format={"ContainsHeader": False, "HeaderList": COLUMNS}),
    "csv-utf16": make_spec(csv_format={"Charset": "UTF-16"}),
    "csv-latin1": make_spec(csv_format={"Charset": "ISO-8859-1"}),
    "csv-gzip": make_spec(csv_format={"FileCompression": "GZIP"}),
    "json-lines": make_spec(json_lines=True),
}


def read(path: Path, data: bytes, spec):
    """Read ``data`` as the file ``path``; check the counts add up; None on InputError."""
    path.write_bytes(data)
    try:
        result = read_records([str(path)], spec)
    except InputError:
        return None
    quality = result.quality
    assert quality.rows_processed == (len(result.records) + quality.rows_invalid
                                      + quality.rows_filtered)
    problem_rows = {row.row for row in result.quarantine}
    assert len(problem_rows) == quality.rows_invalid + quality.rows_partial
    for row in result.quarantine:
        assert row.file == str(path) and row.row >= 1 and row.field and row.reason
        assert row.value.isprintable() and len(row.value) <= 200
    return result


# ---------------------------------------------------------------------------- properties


@given(data=st.binary(max_size=400), header=st.booleans(), kind=st.sampled_from(sorted(SPECS)))
@SETTINGS
def test_arbitrary_bytes_are_read_or_refused_with_input_error(tmp_path, data, header, kind):
    read(tmp_path / "input.csv", (HEADER.encode() + b"\n" if header else b"") + data, SPECS[kind])


_CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["2021-02-14 04:00:00", "1613275200", "12", "-3.5", "1e400", "nan", "inf",
                     "", " ", "a,b", '"', "\r\n", *HOSTILE.values()]))


@given(rows=st.lists(st.lists(_CELLS, min_size=5, max_size=5), max_size=8),
       kind=st.sampled_from(["csv", "csv-auto-time-paris", "csv-epoch", "csv-latin1"]))
@SETTINGS
def test_every_csv_row_is_used_or_quarantined(tmp_path, rows, kind):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # quotes values with \r or \n
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    encoding = "latin-1" if kind == "csv-latin1" else "utf-8"
    data = buffer.getvalue().encode(encoding, "surrogateescape" if encoding == "utf-8"
                                    else "replace")
    result = read(tmp_path / "rows.csv", data, SPECS[kind])
    assert result is not None
    assert result.quality.rows_processed == len(rows)


_JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _CELLS),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from([*COLUMNS, "Views", " views "]), inner, max_size=6)),
    max_leaves=12)


@given(lines=st.lists(st.one_of(_JSON_VALUES.map(json.dumps), st.text(max_size=20)),
                      max_size=8))
@SETTINGS
def test_every_json_line_is_used_or_quarantined(tmp_path, lines):
    text = "\n".join(lines).encode("utf-8", "surrogateescape")
    read(tmp_path / "lines.jsonl", text, SPECS["json-lines"])


@given(data=st.binary(max_size=300), compress=st.booleans())
@SETTINGS
def test_arbitrary_gzip_members(tmp_path, data, compress):
    read(tmp_path / "input.csv.gz", gzip.compress(data) if compress else data, SPECS["csv"])


# ---------------------------------------------------------------------------- explicit cases


def test_hostile_rows_are_quarantined_with_file_row_field_and_reason(tmp_path):
    lines = [
        HEADER,
        "pc_web,us,2021-02-14 04:00:00,10,1.5",                       # 2: clean
        "pc\x00web,us,2021-02-14 04:00:00,10,1.5",                    # 3: NUL in a dimension
        "pc_web,u\xe9s,2021-02-14 04:00:00,10,1.5",                   # 4: Latin-1 byte
        f"{'x' * 1_000_000},us,2021-02-14 04:00:00,10,1.5",           # 5: 1 MB dimension
        f"pc_web,us,2021-02-14 04:00:00,{'9' * 1_000_000},1.5",       # 6: 1 MB number
        "pc_web,us,2021-02-14 04:00:00,1\u00a0000,abc",               # 7: bad numbers
        "pc_web,us,2021-02-14 04:00:00,1e400,-inf",                   # 8: not finite
        "pc_web,us,2021-02-30 04:00:00,10,1.5",                       # 9: no such day
        "pc_web,us,yesterday,10,1.5",                                 # 10: not a timestamp
        "pc_web,us,,10,1.5",                                          # 11: no timestamp
        '"=HYPERLINK(""http://evil.example"",""x"")",../../etc,2021-02-14 04:00:00,1,2',  # 12
        "pc_web,us,2021-02-14 04:00:00",                              # 13: too few fields
        "pc_web,us,2021-02-14 04:00:00,1,2,3",                        # 14: too many fields
    ]
    data = "\n".join(lines).encode("utf-8", "surrogateescape").replace(b"u\xc3\xa9s", b"u\xe9s")
    path = tmp_path / "hostile.csv"
    result = read(path, data, SPECS["csv"])
    problems = {(q.row, q.field): q.reason for q in result.quarantine}
    assert problems == {
        (3, "platform"): "dimension value contains control characters",
        (4, "marketplace"): "not valid utf-8 text (undecodable bytes)",
        (5, "platform"): "dimension value longer than 256 characters",
        (6, "views"): "not a finite number",
        (7, "views"): "not a number",
        (7, "revenue"): "not a number",
        (8, "views"): "not a finite number",
        (8, "revenue"): "not a finite number",
        (9, "timestamp"): "timestamp does not match format yyyy-MM-dd HH:mm:ss",
        (10, "timestamp"): "timestamp does not match format yyyy-MM-dd HH:mm:ss",
        (11, "timestamp"): "missing timestamp",
        (13, "<row>"): "expected 5 fields, found 3",
        (14, "<row>"): "expected 5 fields, found 6",
    }
    quality = result.quality
    assert (quality.rows_processed, quality.rows_invalid, len(result.records)) == (13, 10, 3)
    assert set(result.records["platform"]) == {"pc_web", '=HYPERLINK("http://evil.example","x")'}
    assert set(result.records["marketplace"]) == {"us", "../../etc"}
    assert {q.value for q in result.quarantine if q.row == 4} == {"u\\xe9s"}
    assert all(len(q.value) <= 200 for q in result.quarantine)

    report = tmp_path / "quarantine.csv"
    write_quarantine_csv(result.quarantine, report)
    with report.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((int(r["row"]), r["field"]) for r in rows) == sorted(problems)
    assert {r["file"] for r in rows} == {str(path)}


def test_utf16_without_byte_order_mark_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not utf-16 text"):
        read_records([_write(tmp_path / "a.csv", b"\x00\x00")], SPECS["csv-utf16"])


def test_json_arrays_and_objects_as_values_are_quarantined(tmp_path):
    row = {"platform": "pc_web", "marketplace": "us", "timestamp": "2021-02-14 04:00:00",
           "views": 1, "revenue": 2}
    reason = "JSON value is not a string or a number"
    only_arrays = tmp_path / "arrays.jsonl"  # every value of the column: a list of 2
    result = read(only_arrays, json.dumps({**row, "platform": [None, None]}).encode(),
                  SPECS["json-lines"])
    assert [(q.row, q.field, q.reason) for q in result.quarantine] == [(1, "platform", reason)]
    mixed = tmp_path / "mixed.jsonl"
    lines = [row, {**row, "marketplace": {"a": 1}, "views": [1]}]
    result = read(mixed, "\n".join(map(json.dumps, lines)).encode(), SPECS["json-lines"])
    assert [(q.row, q.field, q.reason) for q in result.quarantine] == [
        (2, "marketplace", reason), (2, "views", reason)]


def test_quarantine_report_cannot_run_as_formulas(tmp_path, monkeypatch):
    """A value or file name a spreadsheet would run gets a leading ' in the report."""
    monkeypatch.chdir(tmp_path)
    Path("=cmd.csv").write_text(f"""{HEADER}
pc_web,us,2021-02-14 04:00:00,=1+1,@SUM(1)
pc_web,us,2021-02-14 04:00:00,-2+3,+cmd|' /C calc'!A0
pc_web,us,2021-02-14 04:00:00,-1,'quoted
""")
    result = read_records(["=cmd.csv"], SPECS["csv"])
    write_quarantine_csv(result.quarantine, "quarantine.csv")
    with open("quarantine.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:]
    assert {r[0] for r in rows} == {"'=cmd.csv"}
    assert [r[4] for r in rows] == ["'=1+1", "'@SUM(1)", "'-2+3", "'+cmd|' /C calc'!A0",
                                    "''quoted"]
    assert [restore_cell(r[4]) for r in rows] == ["=1+1", "@SUM(1)", "-2+3",
                                                  "+cmd|' /C calc'!A0", "'quoted"]
    cells = [cell for row in rows for i, cell in enumerate(row) if i != 1]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
