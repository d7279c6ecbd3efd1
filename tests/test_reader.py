"""Tests of l4m.io.reader: a corpus of broken input files, built here in tmp_path."""
from __future__ import annotations

import csv
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from l4m.io import (
    DataQuality,
    InputError,
    QuarantinedRow,
    list_input_files,
    read_records,
    write_quarantine_csv,
)
from l4m.io import reader as reader_module
from l4m.spec import parse_spec

SHARED_DATA = Path("/work/shared/benchmarks/ecommerce_labeled.csv.gz")
SERVICE_MODEL = Path("/work/shared/reference/lookoutmetrics-2017-07-25.service-2.json.gz")
HEADER = "platform,marketplace,timestamp,views,revenue"


def make_spec(
    *,
    column_format: str | None = "yyyy-MM-dd HH:mm:ss",
    timezone: str = "UTC",
    csv_format: dict | None = None,
    json_format: dict | None = None,
    filters: dict[str, list[str]] | None = None,
    dimensions: tuple[str, ...] = ("platform", "marketplace"),
    measures: tuple[str, ...] = ("views", "revenue"),
):
    timestamp: dict = {"ColumnName": "timestamp"}
    if column_format is not None:
        timestamp["ColumnFormat"] = column_format
    metric_set: dict = {
        "MetricList": [{"MetricName": m, "AggregationFunction": "SUM"} for m in measures],
        "DimensionList": list(dimensions),
        "TimestampColumn": timestamp,
        "Timezone": timezone,
    }
    if json_format is not None:
        descriptor = {"JsonFormatDescriptor": json_format}
    else:
        descriptor = {"CsvFormatDescriptor": csv_format or {}}
    metric_set["MetricSource"] = {"S3SourceConfig": {"FileFormatDescriptor": descriptor}}
    if filters:
        metric_set["DimensionFilterList"] = [
            {"Name": name, "FilterList": [{"DimensionValue": v} for v in values]}
            for name, values in filters.items()
        ]
    return parse_spec(
        {
            "AnomalyDetectorName": "reader-test",
            "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
            "MetricSet": metric_set,
        }
    )


SPEC = make_spec()


def write(path: Path, text: str | bytes, *, gz: bool = False) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return str(path)


def where(result) -> list[tuple[str, int, str]]:
    """The quarantine as (file name, row, field) triples."""
    return [(os.path.basename(q.file), q.row, q.field) for q in result.quarantine]


def counts(result) -> tuple[int, int, int, int]:
    q = result.quality
    return q.rows_processed, q.rows_invalid, q.rows_partial, q.rows_filtered


@pytest.fixture(params=[reader_module.CHUNK_ROWS, 2], ids=["one-chunk", "chunks-of-2"])
def chunked(request, monkeypatch):
    """Run a test with the normal chunk size and with 2-row chunks (row numbers must
    stay right across chunk boundaries)."""
    monkeypatch.setattr(reader_module, "CHUNK_ROWS", request.param)
    return request.param


# --------------------------------------------------------------------------- clean input


def test_clean_csv_gives_typed_records(tmp_path):
    path = write(
        tmp_path / "a.csv",
        f"{HEADER},extra\n"
        "pc_web,us,2021-01-01 00:00:00,10,3.5,x\n"
        "mobile_app,de,2021-01-01 01:00:00,20,6,y\n",
    )
    result = read_records([path], SPEC)
    records = result.records
    assert list(records.columns) == ["timestamp", "platform", "marketplace", "views", "revenue"]
    assert str(records["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert records["views"].dtype == np.float64 and records["revenue"].dtype == np.float64
    assert records["platform"].tolist() == ["pc_web", "mobile_app"]
    assert all(type(v) is str for v in records["marketplace"])
    assert records["timestamp"].tolist() == [
        pd.Timestamp("2021-01-01 00:00", tz="UTC"),
        pd.Timestamp("2021-01-01 01:00", tz="UTC"),
    ]
    assert records["revenue"].tolist() == [3.5, 6.0]
    assert result.quarantine == []
    assert counts(result) == (2, 0, 0, 0)
    quality = result.quality
    assert quality.files == [path]
    assert quality.column_completeness == dict.fromkeys(
        ["timestamp", "platform", "marketplace", "views", "revenue"], 1.0
    )
    assert quality.dimension_uniqueness == {"platform": 2, "marketplace": 2}
    assert quality.time_series_count == 4


def test_crlf_line_ends_and_no_final_newline(tmp_path):
    path = write(
        tmp_path / "crlf.csv",
        f"{HEADER}\r\npc_web,us,2021-01-01 00:00:00,1,2\r\npc_web,us,2021-01-01 01:00:00,x,4",
    )
    result = read_records([path], SPEC)
    assert result.records["revenue"].tolist() == [2.0, 4.0]
    assert where(result) == [("crlf.csv", 3, "views")]
    assert result.quarantine[0].value == "x"


def test_header_only_file_is_valid_and_empty(tmp_path):
    path = write(tmp_path / "h.csv", HEADER + "\n")
    result = read_records([path], SPEC)
    assert len(result.records) == 0
    assert list(result.records.columns) == [
        "timestamp", "platform", "marketplace", "views", "revenue"
    ]
    assert str(result.records["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert result.records["views"].dtype == np.float64
    assert result.quarantine == []
    assert counts(result) == (0, 0, 0, 0)
    assert result.quality.time_series_count == 0


def test_column_names_match_case_insensitively(tmp_path):
    path = write(
        tmp_path / "case.csv",
        "Platform,MARKETPLACE,TimeStamp,Views,revenue\npc_web,us,2021-01-01 00:00:00,abc,1\n",
    )
    result = read_records([path], SPEC)
    assert list(result.records.columns) == [
        "timestamp", "platform", "marketplace", "views", "revenue"
    ]
    assert where(result) == [("case.csv", 2, "Views")]  # named as in the file


# --------------------------------------------------------------------------- unusable files


def test_missing_column_names_file_and_columns(tmp_path):
    path = write(tmp_path / "nocol.csv", "platform,timestamp,views\npc_web,2021-01-01 00:00:00,1\n")
    with pytest.raises(InputError) as info:
        read_records([path], SPEC)
    message = str(info.value)
    assert path in message
    assert "['marketplace', 'revenue']" in message


@pytest.mark.parametrize(
    ("content", "gz", "expected"),
    [
        (b"", False, "empty file"),
        (b"", True, "empty file"),
        (b"\n\n  \n", False, "empty file"),
        (bytes(range(256)) * 64, False, "not a CSV text file"),
    ],
    ids=["empty", "empty-gzip", "blank-lines", "binary"],
)
def test_unusable_file_raises(tmp_path, content, gz, expected):
    path = write(tmp_path / ("f.csv.gz" if gz else "f.csv"), content, gz=gz)
    with pytest.raises(InputError, match=expected) as info:
        read_records([path], SPEC)
    assert path in str(info.value)


def test_file_not_found(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="file not found") as info:
        read_records([missing], SPEC)
    assert missing in str(info.value)


def test_undecodable_gzip(tmp_path):
    numbers = np.random.default_rng(0).random(40_000)  # incompressible: the cut lands
    body = HEADER + "\n" + "".join(  # well after the first 64 KiB checked on opening
        f"pc_web,us,2021-01-01 00:00:00,{x!r},1\n" for x in numbers
    )
    data = gzip.compress(body.encode())
    truncated = write(tmp_path / "cut.csv.gz", data[: len(data) * 3 // 4])
    with pytest.raises(InputError, match="undecodable gzip") as info:
        read_records([truncated], SPEC)
    assert truncated in str(info.value)
    plain = write(tmp_path / "plain.csv.gz", HEADER + "\n")
    with pytest.raises(InputError, match="undecodable gzip"):
        read_records([plain], SPEC)
    declared = write(tmp_path / "plain.csv", HEADER + "\n")
    with pytest.raises(InputError, match="undecodable gzip"):
        read_records([declared], make_spec(csv_format={"FileCompression": "GZIP"}))


def test_unterminated_quote_is_an_input_error(tmp_path):
    path = write(tmp_path / "q.csv", f'{HEADER}\n"pc_web,us,2021-01-01 00:00:00,1,2\n')
    with pytest.raises(InputError, match="not parseable as CSV"):
        read_records([path], SPEC)


# --------------------------------------------------------------------------- row problems


def test_bad_numbers(tmp_path, chunked):
    path = write(
        tmp_path / "num.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01 00:00:00,abc,3\n"  # 2: views bad → partial, kept
        "pc_web,uk,2021-01-01 00:00:00,inf,nan\n"  # 3: both bad → invalid
        "pc_web,de,2021-01-01 00:00:00,,5\n"  # 4: empty views → missing only
        "pc_web,fr,2021-01-01 00:00:00,  ,1e3\n"  # 5: blank views → missing only
        "pc_web,es,2021-01-01 00:00:00,7,1,5\n"  # 6: too many fields
        "pc_web,it,2021-01-01 00:00:00,8,\n"  # 7: empty revenue → missing only
        "pc_web,jp,2021-01-01 00:00:00,x,\n",  # 8: bad views, no usable measure → invalid
    )
    result = read_records([path], SPEC)
    assert where(result) == [
        ("num.csv", 2, "views"),
        ("num.csv", 3, "views"),
        ("num.csv", 3, "revenue"),
        ("num.csv", 6, "<row>"),
        ("num.csv", 8, "views"),
    ]
    reasons = [q.reason for q in result.quarantine]
    assert reasons == [
        "not a number",
        "not a finite number",
        "not a number",
        "expected 5 fields, found 6",
        "not a number",
    ]
    assert [q.value for q in result.quarantine] == ["abc", "inf", "nan", "", "x"]
    records = result.records
    assert records["marketplace"].tolist() == ["us", "de", "fr", "it"]
    assert records["views"].isna().tolist() == [True, True, True, False]
    assert records["revenue"].tolist()[:3] == [3.0, 5.0, 1000.0]
    assert np.isnan(records["revenue"].iloc[3])
    assert counts(result) == (7, 3, 1, 0)
    completeness = result.quality.column_completeness
    assert completeness["views"] == pytest.approx(1 / 7)
    assert completeness["revenue"] == pytest.approx(3 / 7)
    assert completeness["timestamp"] == pytest.approx(6 / 7)


def test_bad_and_missing_timestamps(tmp_path, chunked):
    path = write(
        tmp_path / "ts.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01 00:00:00,1,1\n"
        "pc_web,us,2021-13-01 00:00:00,2,2\n"
        "pc_web,us,,3,3\n"
        "pc_web,us,01/01/2021 00:00,4,4\n"
        "pc_web,us,2021-01-01 03:00:00,5,5\n",
    )
    result = read_records([path], SPEC)
    assert where(result) == [("ts.csv", 3, "timestamp"), ("ts.csv", 4, "timestamp"),
                             ("ts.csv", 5, "timestamp")]
    assert [q.reason for q in result.quarantine] == [
        "timestamp does not match format yyyy-MM-dd HH:mm:ss",
        "missing timestamp",
        "timestamp does not match format yyyy-MM-dd HH:mm:ss",
    ]
    assert result.records["views"].tolist() == [1.0, 5.0]
    assert counts(result) == (5, 3, 0, 0)


def test_window_start_inclusive_end_exclusive(tmp_path, chunked):
    path = write(
        tmp_path / "win.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01 00:59:59,1,1\n"
        "pc_web,us,2021-01-01 01:00:00,2,2\n"
        "pc_web,us,2021-01-01 01:59:59,3,3\n"
        "pc_web,us,2021-01-01 02:00:00,4,4\n",
    )
    window = (pd.Timestamp("2021-01-01 01:00", tz="UTC"), pd.Timestamp("2021-01-01 02:00"))
    result = read_records([path], SPEC, window=window)
    assert where(result) == [("win.csv", 2, "timestamp"), ("win.csv", 5, "timestamp")]
    assert result.quarantine[0].reason == (
        "timestamp outside the interval [2021-01-01T01:00:00+00:00, 2021-01-01T02:00:00+00:00)"
    )
    assert result.records["views"].tolist() == [2.0, 3.0]
    assert counts(result) == (4, 2, 0, 0)


def test_ragged_rows_blank_lines_and_multiline_values(tmp_path, chunked):
    path = write(
        tmp_path / "ragged.csv",
        f"{HEADER},note\n"  # 1
        "pc_web,us,2021-01-01 00:00:00,1,1,a\n"  # 2
        "pc_web,us,2021-01-01 01:00:00,2\n"  # 3: too few
        "\n"  # 4: blank, ignored
        'pc_web,us,2021-01-01 02:00:00,3,3,"two\nlines"\n'  # 5-6: one row
        "pc_web,us,2021-01-01 03:00:00,4,4,b,c\n"  # 7: too many
        'pc_web,us,2021-01-01 04:00:00,5,5,"x"\n'  # 8
        "pc_web,us,2021-01-01 05:00:00,bad,6,d\n"  # 9: bad views
        "pc_web,us,2021-01-01 06:00:00,7,7,d,e,f\n"  # 10: too many
        "pc_web,us,2021-01-01 07:00:00,8,8,e\n",  # 11
    )
    result = read_records([path], SPEC)
    assert where(result) == [
        ("ragged.csv", 3, "<row>"),
        ("ragged.csv", 7, "<row>"),
        ("ragged.csv", 9, "views"),
        ("ragged.csv", 10, "<row>"),
    ]
    assert [q.reason for q in result.quarantine] == [
        "expected 6 fields, found 4",
        "expected 6 fields, found 7",
        "not a number",
        "expected 6 fields, found 8",
    ]
    assert result.quarantine[0].value == "pc_web,us,2021-01-01 01:00:00,2"
    assert result.records["revenue"].tolist() == [1.0, 3.0, 5.0, 6.0, 8.0]
    assert counts(result) == (8, 3, 1, 0)


def test_too_many_fields_in_first_row_and_quoted_line_ends(tmp_path, chunked):
    path = write(
        tmp_path / "first.csv",
        f"{HEADER},note\n"  # 1
        "pc_web,us,2021-01-01 00:00:00,1,1,a,EXTRA\n"  # 2: too many, first row
        'pc_web,us,2021-01-01 01:00:00,2,2,"multi\r\nline"\n'  # 3-4
        "pc_web,us,2021-01-01 02:00:00,3,3,b,EXTRA\n"  # 5: too many
        "pc_web,us,2021-01-01 03:00:00,x,4,c\n"  # 6: bad views
        'pc_web,us,2021-01-01 04:00:00,5,5,"a\n\nb"\n'  # 7-9
        "pc_web,us,2021-01-01 05:00:00,6\n"  # 10: too few
        "pc_web,us,2021-01-01 06:00:00,y,7,d\n",  # 11: bad views
    )
    result = read_records([path], SPEC)
    assert where(result) == [
        ("first.csv", 2, "<row>"),
        ("first.csv", 5, "<row>"),
        ("first.csv", 6, "views"),
        ("first.csv", 10, "<row>"),
        ("first.csv", 11, "views"),
    ]
    assert all(q.reason.startswith("expected 6 fields, found ") for q in result.quarantine[:2])
    assert result.quarantine[3].reason == "expected 6 fields, found 4"
    assert result.records["revenue"].tolist() == [2.0, 4.0, 5.0, 7.0]
    assert counts(result) == (7, 3, 2, 0)


def test_importing_l4m_io_does_not_load_pandas():
    code = "import sys, l4m.io; assert 'pandas' not in sys.modules, 'pandas loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_latin1_bytes_in_utf8_file(tmp_path, chunked):
    path = write(
        tmp_path / "latin.csv",
        HEADER.encode()
        + b"\npc_web,caf\xe9,2021-01-01 00:00:00,1,1\n"
        + b"pc_web,us,2021-01-01 00:00:00,2\xb2,2\n"
        + b"pc_web,us,2021-01-01 \xff00:00:00,3,3\n"
        + "pc_web,été,2021-01-01 00:00:00,4,4\n".encode(),
    )
    result = read_records([path], SPEC)
    assert where(result) == [
        ("latin.csv", 2, "marketplace"),
        ("latin.csv", 3, "views"),
        ("latin.csv", 4, "timestamp"),
    ]
    assert {q.reason for q in result.quarantine} == {"not valid utf-8 text (undecodable bytes)"}
    assert [q.value for q in result.quarantine] == [
        "caf\\xe9", "2\\xb2", "2021-01-01 \\xff00:00:00"
    ]
    assert result.records["marketplace"].tolist() == ["us", "été"]
    assert counts(result) == (4, 2, 1, 0)


def test_declared_charset_is_used(tmp_path):
    body = f"{HEADER}\npc_web,été,2021-01-01 00:00:00,1,1\n"
    latin = write(tmp_path / "l1.csv", body.encode("latin-1"))
    result = read_records([latin], make_spec(csv_format={"Charset": "ISO-8859-1"}))
    assert result.records["marketplace"].tolist() == ["été"]
    utf16 = write(tmp_path / "u16.csv", body.encode("utf-16"))
    result = read_records([utf16], make_spec(csv_format={"Charset": "UTF-16"}))
    assert result.records["marketplace"].tolist() == ["été"]
    assert result.quarantine == []


def test_nul_and_control_characters_in_dimension(tmp_path):
    path = write(
        tmp_path / "nul.csv",
        f"{HEADER}\npc\x00web,us,2021-01-01 00:00:00,1,1\n"
        "pc_web,u\x1bs,2021-01-01 00:00:00,2,2\npc_web,us,2021-01-01 00:00:00,3,3\n",
    )
    result = read_records([path], SPEC)
    assert where(result) == [("nul.csv", 2, "platform"), ("nul.csv", 3, "marketplace")]
    assert [q.value for q in result.quarantine] == ["pc\\x00web", "u\\x1bs"]
    assert {q.reason for q in result.quarantine} == {"dimension value contains control characters"}
    assert result.records["views"].tolist() == [3.0]


def test_missing_and_overlong_dimension_values(tmp_path):
    long_value = "é" * 300
    path = write(
        tmp_path / "long.csv",
        f"{HEADER}\npc_web,{long_value},2021-01-01 00:00:00,1,1\n"
        f",us,2021-01-01 00:00:00,2,2\npc_web,{'u' * 40},2021-01-01 00:00:00,3,3\n",
    )
    result = read_records([path], SPEC, max_dimension_length=40)
    assert where(result) == [("long.csv", 2, "marketplace"), ("long.csv", 3, "platform")]
    assert [q.reason for q in result.quarantine] == [
        "dimension value longer than 40 characters",
        "missing dimension value",
    ]
    shown = result.quarantine[0].value
    assert len(shown) == 200 and shown.endswith("…") and shown.startswith("éé")
    assert result.records["views"].tolist() == [3.0]
    default = read_records([path], SPEC)  # 256 characters: 300 is still too long, 40 is fine
    assert where(default) == [("long.csv", 2, "marketplace"), ("long.csv", 3, "platform")]
    assert default.quarantine[0].reason == "dimension value longer than 256 characters"
    assert default.records["views"].tolist() == [3.0]


def test_hostile_values_are_printable(tmp_path):
    path = write(
        tmp_path / "hostile.csv",
        f'{HEADER}\npc_web,us,2021-01-01 00:00:00,"=1+2\u202e\r\nevil",1\n',
    )
    result = read_records([path], SPEC)
    assert where(result) == [("hostile.csv", 2, "views")]
    assert result.quarantine[0].value == "=1+2\\u202e\\r\\nevil"
    assert result.quarantine[0].value.isprintable()


# --------------------------------------------------------------------------- formats


def test_gzip_csv_by_descriptor_and_by_name(tmp_path):
    body = f"{HEADER}\npc_web,us,2021-01-01 00:00:00,1,x\n"
    by_name = write(tmp_path / "a.csv.gz", body, gz=True)
    by_descriptor = write(tmp_path / "b.csv", body, gz=True)
    gzip_spec = make_spec(csv_format={"FileCompression": "GZIP"})
    for path, spec in ((by_name, SPEC), (by_descriptor, gzip_spec), (by_name, gzip_spec)):
        result = read_records([path], spec)
        assert result.records["views"].tolist() == [1.0]
        assert [(q.row, q.field) for q in result.quarantine] == [(2, "revenue")]


def test_header_list_without_header_row(tmp_path, chunked):
    spec = make_spec(
        csv_format={
            "ContainsHeader": False,
            "HeaderList": ["timestamp", "platform", "marketplace", "views", "revenue"],
        }
    )
    path = write(
        tmp_path / "nohdr.csv",
        "2021-01-01 00:00:00,pc_web,us,1,1\n"
        "2021-01-01 01:00:00,pc_web,us,oops,2\n"
        "2021-01-01 02:00:00,pc_web,us,3\n",
    )
    result = read_records([path], spec)
    assert where(result) == [("nohdr.csv", 2, "views"), ("nohdr.csv", 3, "<row>")]
    assert result.records["revenue"].tolist() == [1.0, 2.0]
    assert counts(result) == (3, 1, 1, 0)


def test_semicolon_delimiter_and_single_quotes(tmp_path):
    spec = make_spec(csv_format={"Delimiter": ";", "QuoteSymbol": "'"})
    path = write(
        tmp_path / "semi.csv",
        "platform;marketplace;timestamp;views;revenue\n"
        "'pc;web';'it''s';2021-01-01 00:00:00;1;2\n"
        'pc_web;"us";2021-01-01 00:00:00;3;4\n'
        "pc_web;us;2021-01-01 00:00:00;5,5;6\n",
    )
    result = read_records([path], spec)
    assert result.records["platform"].tolist() == ["pc;web", "pc_web", "pc_web"]
    assert result.records["marketplace"].tolist() == ["it's", '"us"', "us"]
    assert where(result) == [("semi.csv", 4, "views")]


def test_no_quote_symbol(tmp_path):
    spec = make_spec(csv_format={"QuoteSymbol": ""})
    path = write(tmp_path / "nq.csv", f'{HEADER}\n"pc_web,us,2021-01-01 00:00:00,1,2\n')
    result = read_records([path], spec)
    assert result.records["platform"].tolist() == ['"pc_web']


def test_json_lines_with_broken_and_non_object_lines(tmp_path, chunked):
    lines = [
        {"platform": "pc_web", "marketplace": "us", "timestamp": "2021-01-01 00:00:00",
         "views": 1, "revenue": 0.5},
        "{broken json",
        "",  # blank line: not a row, keeps its number
        "[1, 2]",
        {"platform": "pc_web", "marketplace": {"a": 1}, "timestamp": "2021-01-01 00:00:00",
         "views": 2, "revenue": 1},
        {"platform": "pc_web", "marketplace": "uk", "timestamp": "2021-01-01 01:00:00",
         "views": "3", "revenue": None, "extra": True},
        {"platform": "pc_web", "marketplace": "de", "timestamp": "2021-01-01 02:00:00",
         "views": True, "revenue": 4},
        "42",
        {"Platform": "mobile_app", "marketplace": "fr", "timestamp": "2021-01-01 03:00:00",
         "views": 5.25},
    ]
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    spec = make_spec(json_format={})
    path = write(tmp_path / "rows.jsonl", text)
    result = read_records([path], spec)
    assert where(result) == [
        ("rows.jsonl", 2, "<line>"),
        ("rows.jsonl", 4, "<line>"),
        ("rows.jsonl", 5, "marketplace"),
        ("rows.jsonl", 7, "views"),
        ("rows.jsonl", 8, "<line>"),
    ]
    reasons = [q.reason for q in result.quarantine]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1] == "not a JSON object (found list)"
    assert reasons[2] == "JSON value is not a string or a number"
    assert reasons[3] == "not a number"
    assert reasons[4] == "not a JSON object (found int)"
    assert result.quarantine[2].value == '{"a": 1}'
    records = result.records
    assert records["marketplace"].tolist() == ["us", "uk", "de", "fr"]
    assert records["platform"].tolist()[-1] == "mobile_app"  # key matched ignoring case
    assert records["views"].tolist()[:2] == [1.0, 3.0]
    assert np.isnan(records["revenue"].iloc[1])
    assert counts(result) == (8, 4, 1, 0)

    gz_path = write(tmp_path / "rows.jsonl.gz", text, gz=True)
    gz_result = read_records([gz_path], make_spec(json_format={"FileCompression": "GZIP"}))
    assert [(q.row, q.field) for q in gz_result.quarantine] == [
        (q.row, q.field) for q in result.quarantine
    ]
    assert gz_result.records.equals(records)


def test_json_lines_unusable_files(tmp_path):
    spec = make_spec(json_format={})
    not_json = write(tmp_path / "a.jsonl", f"{HEADER}\npc_web,us,2021-01-01 00:00:00,1,1\n")
    with pytest.raises(InputError, match="not JSON Lines"):
        read_records([not_json], spec)
    missing = write(
        tmp_path / "b.jsonl",
        json.dumps({"platform": "p", "timestamp": "2021-01-01 00:00:00", "views": 1}) + "\n",
    )
    with pytest.raises(InputError, match=r"missing columns \['marketplace', 'revenue'\]"):
        read_records([missing], spec)


# --------------------------------------------------------------------------- timestamps


def test_timezone_conversion_paris(tmp_path, chunked):
    spec = make_spec(timezone="Europe/Paris")
    path = write(
        tmp_path / "paris.csv",
        f"{HEADER}\n"
        "pc_web,fr,2021-01-15 12:00:00,1,1\n"  # winter: UTC+1
        "pc_web,fr,2021-07-15 12:00:00,2,2\n"  # summer: UTC+2
        "pc_web,fr,2021-03-28 02:30:00,3,3\n"  # does not exist
        "pc_web,fr,2021-10-31 02:30:00,4,4\n",  # happens twice
    )
    result = read_records([path], spec)
    assert result.records["timestamp"].tolist() == [
        pd.Timestamp("2021-01-15 11:00", tz="UTC"),
        pd.Timestamp("2021-07-15 10:00", tz="UTC"),
    ]
    assert where(result) == [("paris.csv", 4, "timestamp"), ("paris.csv", 5, "timestamp")]
    assert [q.reason for q in result.quarantine] == [
        "local time does not exist in Europe/Paris (DST gap)",
        "local time is ambiguous in Europe/Paris (DST overlap)",
    ]


def test_offset_format_is_converted_to_utc(tmp_path):
    spec = make_spec(column_format="yyyy-MM-dd'T'HH:mm:ssXXX", timezone="Asia/Tokyo")
    path = write(
        tmp_path / "offset.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01T01:00:00+01:00,1,1\n"
        "pc_web,us,2021-01-01T00:00:00Z,2,2\n"
        "pc_web,us,2021-01-01T05:30:00+05:30,3,3\n"
        "pc_web,us,2021-01-01T00:00:00,4,4\n",  # no offset: does not match the format
    )
    result = read_records([path], spec)
    assert result.records["timestamp"].tolist() == [pd.Timestamp("2021-01-01", tz="UTC")] * 3
    assert where(result) == [("offset.csv", 5, "timestamp")]


@pytest.mark.parametrize(
    ("column_format", "values"),
    [
        ("EPOCH_SECONDS", ["1609459200", "1609462800.5", "-3600", "x", "1e12"]),
        ("EPOCH_MILLISECONDS", ["1609459200000", "1609462800500", "-3600000", "x", "1e16"]),
        (None, ["1609459200", "1609462800500", "1969-12-31T23:00:00", "x", "2021-02-30"]),
    ],
    ids=["seconds", "millis", "auto"],
)
def test_epoch_and_auto_timestamps(tmp_path, column_format, values):
    spec = make_spec(column_format=column_format, timezone="UTC")
    body = "".join(f"pc_web,us,{v},{i},{i}\n" for i, v in enumerate(values))
    path = write(tmp_path / "epoch.csv", f"{HEADER}\n{body}")
    result = read_records([path], spec)
    assert result.records["timestamp"].tolist() == [
        pd.Timestamp("2021-01-01 00:00", tz="UTC"),
        pd.Timestamp("2021-01-01 01:00:00.500", tz="UTC"),
        pd.Timestamp("1969-12-31 23:00", tz="UTC"),
    ]
    assert where(result) == [("epoch.csv", 5, "timestamp"), ("epoch.csv", 6, "timestamp")]
    assert counts(result) == (5, 2, 0, 0)


def test_auto_timestamps_with_offsets_and_local_time(tmp_path):
    spec = make_spec(column_format=None, timezone="America/New_York")
    path = write(
        tmp_path / "auto.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01T00:00:00Z,1,1\n"
        "pc_web,us,2020-12-31 19:00:00,2,2\n"  # New York wall time
        "pc_web,us,2021-01-01T01:00:00+01:00,3,3\n"
        "pc_web,us,2021-01-01,4,4\n",  # date only, local midnight
    )
    result = read_records([path], spec)
    assert result.records["timestamp"].tolist() == [pd.Timestamp("2021-01-01", tz="UTC")] * 3 + [
        pd.Timestamp("2021-01-01 05:00", tz="UTC")
    ]
    assert result.quarantine == []


# --------------------------------------------------------------------------- filters, files


def test_dimension_filters(tmp_path, chunked):
    spec = make_spec(filters={"platform": ["pc_web", "mobile_app"], "marketplace": ["us"]})
    path = write(
        tmp_path / "filter.csv",
        f"{HEADER}\n"
        "pc_web,us,2021-01-01 00:00:00,1,1\n"  # kept
        "mobile_web,us,2021-01-01 00:00:00,2,2\n"  # filtered (platform)
        "mobile_app,us,2021-01-01 00:00:00,3,x\n"  # kept, partial
        "pc_web,uk,2021-01-01 00:00:00,4,4\n"  # filtered (marketplace)
        "mobile_web,uk,bad,5,5\n"  # invalid, quarantined even if it would be filtered
        "pc_web,de,2021-01-01 00:00:00,y,6\n",  # partial and filtered
    )
    result = read_records([path], spec)
    assert result.records["views"].tolist() == [1.0, 3.0]
    assert where(result) == [
        ("filter.csv", 4, "revenue"),
        ("filter.csv", 6, "timestamp"),
        ("filter.csv", 7, "views"),
    ]
    assert counts(result) == (6, 1, 2, 3)


def test_several_files_in_order(tmp_path):
    first = write(tmp_path / "1.csv", f"{HEADER}\npc_web,us,2021-01-01 00:00:00,1,x\n")
    second = write(tmp_path / "2.csv", f"{HEADER}\npc_web,us,2021-01-01 01:00:00,y,2\n")
    result = read_records([first, "file://" + second], SPEC)
    assert where(result) == [("1.csv", 2, "revenue"), ("2.csv", 2, "views")]
    assert result.quality.files == [first, "file://" + second]
    assert result.records["timestamp"].dt.hour.tolist() == [0, 1]


def test_list_input_files(tmp_path):
    root = tmp_path / "in[put]*"
    (root / "20210101" / "0000").mkdir(parents=True)
    (root / "20210101" / "0100").mkdir(parents=True)
    (root / "_temporary").mkdir()
    (root / ".hidden").mkdir()
    expected = [
        write(root / "20210101" / "0000" / "b.csv", HEADER),
        write(root / "20210101" / "0100" / "a.csv.gz", HEADER, gz=True),
        write(root / "top.jsonl", "{}"),
    ]
    write(root / "20210101" / "0000" / "_SUCCESS", "")
    write(root / "20210101" / "0000" / ".b.csv.crc", "")
    write(root / "_temporary" / "part.csv", HEADER)
    write(root / ".hidden" / "part.csv", HEADER)
    assert list_input_files(root) == expected
    assert list_input_files("file://" + str(root)) == expected
    assert list_input_files(expected[0]) == [expected[0]]
    with pytest.raises(InputError, match="not found"):
        list_input_files(tmp_path / "in*")  # no globbing
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no input files"):
        list_input_files(tmp_path / "empty")


# --------------------------------------------------------------------------- reports


def test_write_quarantine_csv(tmp_path):
    rows = [
        QuarantinedRow("in,put.csv", 3, "views", "not a number", "a\"b"),
        QuarantinedRow("evil\n.csv", 4, "<row>", "expected 5 fields, found 6", ""),
    ]
    target = tmp_path / "out" / "quarantine.csv"
    write_quarantine_csv(rows, target)
    write_quarantine_csv(rows, "file://" + str(target))  # replaces atomically
    assert sorted(os.listdir(target.parent)) == ["quarantine.csv"]
    with open(target, newline="", encoding="utf-8") as handle:
        read_back = list(csv.reader(handle))
    assert read_back == [
        ["file", "row", "field", "reason", "value"],
        ["in,put.csv", "3", "views", "not a number", 'a"b'],
        ["evil\\n.csv", "4", "<row>", "expected 5 fields, found 6", ""],
    ]


def test_data_quality_to_l4m_matches_the_service_model(tmp_path):
    quality = DataQuality(
        rows_processed=10,
        rows_invalid=2,
        rows_partial=1,
        rows_filtered=3,
        column_completeness={"timestamp": 0.8, "views": 0.9},
        files=["a.csv"],
        dimension_uniqueness={"platform": 3},
        time_series_count=6,
    )
    items = quality.to_l4m()
    by_type = {}
    for item in items:
        by_type.setdefault(item["MetricType"], []).append(item)
    assert by_type["ROWS_PROCESSED"][0]["MetricValue"] == 10.0
    assert by_type["INVALID_ROWS_COMPLIANCE"][0]["MetricValue"] == pytest.approx(20.0)
    assert by_type["ROWS_PARTIAL_COMPLIANCE"][0]["MetricValue"] == pytest.approx(10.0)
    assert [(i["RelatedColumnName"], i["MetricValue"]) for i in by_type["COLUMN_COMPLETENESS"]] == [
        ("timestamp", pytest.approx(80.0)),
        ("views", pytest.approx(90.0)),
    ]
    assert by_type["DIMENSION_UNIQUENESS"][0]["MetricValue"] == 3.0
    assert by_type["TIME_SERIES_COUNT"][0]["MetricValue"] == 6.0
    if not SERVICE_MODEL.exists():
        return
    shapes = json.loads(gzip.decompress(SERVICE_MODEL.read_bytes()))["shapes"]
    member_shapes = {k: v["shape"] for k, v in shapes["DataQualityMetric"]["members"].items()}
    allowed = set(shapes[member_shapes["MetricType"]]["enum"])
    for item in items:
        assert set(item) <= set(member_shapes)
        assert item["MetricType"] in allowed
        assert 1 <= len(item["MetricDescription"]) <= 256
        assert isinstance(item["MetricValue"], float)


# --------------------------------------------------------------------------- shared data


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="shared benchmark data not present")
def test_shared_ecommerce_data():
    started = time.perf_counter()
    result = read_records([str(SHARED_DATA)], SPEC)
    elapsed = time.perf_counter() - started
    assert len(result.records) == 183_960
    assert result.quarantine == []
    assert counts(result) == (183_960, 0, 0, 0)
    assert result.quality.time_series_count == 42
    assert result.records["timestamp"].min() == pd.Timestamp("2021-01-01", tz="UTC")
    assert result.records["timestamp"].max() == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    assert elapsed < 5.0, f"reading the shared data took {elapsed:.2f} s"


class _RemoteFile:
    """An object-store file as :func:`l4m.io.inputs.local_inputs` sees one: a protocol and
    ``open``; it counts its reads."""

    protocol = "s3"

    def __init__(self, name: str, data: bytes):
        self.name, self.data, self.reads = name, data, 0

    def open(self, mode: str):
        import io

        self.reads += 1
        return io.BytesIO(self.data)


def test_local_inputs_fingerprint_or_plain_copy(tmp_path, monkeypatch):
    from l4m.io import inputs

    on_disk = tmp_path / "history.csv"
    on_disk.write_bytes(b"a,b\n1,2\n")
    remote = _RemoteFile("live.csv", b"a,b\n3,4\n")
    files = [inputs.InputFile(f"file://{on_disk}", on_disk),
             inputs.InputFile("s3://bucket/live.csv", remote)]
    with inputs.local_inputs(files) as (paths, fingerprint):
        assert paths[0] == str(on_disk) and Path(paths[1]).read_bytes() == remote.data
    assert [(f["Path"], f["Size"]) for f in fingerprint] == [
        (f"file://{on_disk}", 8), ("s3://bucket/live.csv", 8)]
    # The history needs no fingerprint: its local files are not read at all, remote
    # ones are copied as they are.
    monkeypatch.setattr(inputs, "_digest", lambda *a, **k: pytest.fail("hashed"))
    with inputs.local_inputs(files, fingerprint=False) as (paths, fingerprint):
        assert paths[0] == str(on_disk) and Path(paths[1]).read_bytes() == remote.data
    assert fingerprint == [] and remote.reads == 2
