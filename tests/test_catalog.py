"""The local catalog (DuckDB) and the two seed datasets, over files written by the product."""
from __future__ import annotations

import dataclasses
import gzip
import json
import math
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import pytest
from l4m import datasets, runner, synth
from l4m.hooks.catalog import LocalCatalogHook
from l4m.locations import resolve
from l4m.operators.catalog import LocalCatalogOperator
from l4m.spec import parse_spec

SCORES = "anomalyResults/metricValueAnomalyScore"
CONTRIBS = "anomalyResults/dimensionContributions"


def _run(tmp: Path, doc: dict, input_path: Path) -> SimpleNamespace:
    """Write the definition (results and catalog under ``tmp``), replay it, refresh the catalog."""
    doc["Storage"] = {"ResultsPath": f"file://{tmp}/results"}
    doc["Publish"] = {"Local": {"CatalogPath": f"file://{tmp}/catalog.duckdb"}}
    definition = tmp / "definition.json"
    definition.write_text(json.dumps(doc))
    spec = parse_spec(doc)
    run = runner.replay(spec, runner.read_input(spec, str(input_path)), tmp / "results")
    locations = resolve(spec)
    hook = LocalCatalogHook(locations.catalog)
    return SimpleNamespace(tmp=tmp, spec=spec, run=run, locations=locations, hook=hook,
                           definition=definition, summary=hook.refresh(spec, locations))


@pytest.fixture(scope="module")
def ecommerce(tmp_path_factory) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("ecommerce")
    paths = synth.write_dataset(tmp / "data", seed=0, days=20, patterns="easy")
    return _run(tmp, json.loads(paths.definition.read_text()), paths.backtest_input)


@pytest.fixture(scope="module")
def three_measures(tmp_path_factory) -> SimpleNamespace:
    """3 measures (one capitalised), 1 dimension ``my-dim``, gzip JSON Lines, epoch seconds."""
    tmp = tmp_path_factory.mktemp("three")
    frame = synth.generate_frame(seed=1, days=14)
    frame = frame[~frame["_missing"]]
    records = pd.DataFrame({
        "Time": frame["timestamp"].astype("datetime64[s]").astype("int64"),
        "my-dim": frame["platform"], "Views": frame["views"], "revenue": frame["revenue"],
        "clicks": (frame["views"] * 0.05).round(2)})
    live = tmp / "live"
    for day, rows in records.groupby(records["Time"] // 86_400):
        path = live / str(day) / "part.jsonl.gz"
        path.parent.mkdir(parents=True)
        path.write_bytes(gzip.compress(rows.to_json(orient="records", lines=True).encode()))
    doc = {
        "AnomalyDetectorName": "three",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT1H"},
        "MetricSet": {
            "MetricList": [{"MetricName": m, "AggregationFunction": "SUM"}
                           for m in ("Views", "revenue", "clicks")],
            "DimensionList": ["my-dim"],
            "TimestampColumn": {"ColumnName": "Time", "ColumnFormat": "EPOCH_SECONDS"},
            "MetricSource": {"S3SourceConfig": {
                "TemplatedPathList": [f"file://{live}/{{{{yyyyMMdd}}}}"],
                "FileFormatDescriptor": {"JsonFormatDescriptor": {"FileCompression": "GZIP"}}}},
        },
    }
    return _run(tmp, doc, live)


def _results(folder: Path, strings: list[str]) -> pd.DataFrame:
    """Every result CSV of ``folder`` with crawler-style lower-case column names."""
    frames = [pd.read_csv(f, dtype=dict.fromkeys(strings, str), keep_default_na=False,
                          na_values=[""]) for f in sorted(folder.glob("*.csv"))]
    frame = pd.concat(frames, ignore_index=True)
    frame.columns = [c.lower() for c in frame.columns]
    return frame


def _rows(frame: pd.DataFrame, columns=None) -> list[tuple]:
    """The rows as a sorted list of tuples (NaN as None), to compare as multisets."""
    frame = frame if columns is None else frame[list(columns)]
    rows = [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row)
            for row in frame.astype(object).itertuples(index=False)]
    return sorted(rows, key=repr)


def _scores(ns) -> pd.DataFrame:
    dims = [d.lower() for d in ns.spec.dimensions]
    return _results(ns.tmp / "results" / SCORES, ["key", "timestamp", *dims])


def _contributions(ns) -> pd.DataFrame:
    return _results(ns.tmp / "results" / CONTRIBS,
                    ["Timestamp", "metricName", "dimensionName", "dimensionValue"])


def _check_flags_and_time(ds: pd.DataFrame, spec) -> None:
    for m in spec.measure_names:
        score = ds[f"{m}groupscore".lower()]
        assert (ds[f"is{m.lower()}anomaly"] == score.fillna(0).gt(0)).all()
    assert (ds["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S") == ds["timestamp"]).all()


# ------------------------------------------------------------------------------ tables


def test_result_tables_hold_exactly_the_result_files(ecommerce):
    for table, expected in (("metricvalueanomalyscore", _scores(ecommerce)),
                            ("dimensioncontributions", _contributions(ecommerce))):
        got = ecommerce.hook.query(f"SELECT * FROM {table}")
        assert list(got.columns) == list(expected.columns)
        assert len(expected) > 0
        assert _rows(got) == _rows(expected)
        assert ecommerce.summary["tables"][table]["rows"] == len(expected)


def test_live_table_has_every_live_row_with_lower_case_columns(ecommerce):
    got = ecommerce.hook.query("SELECT * FROM live")
    assert list(got.columns) == ["platform", "marketplace", "timestamp", "views", "revenue"]
    assert len(got) == ecommerce.run.rows_processed == ecommerce.summary["tables"]["live"]["rows"]
    assert got["views"].dtype == "float64"


# ------------------------------------------------------------------------------ datasets


def test_live_data_fills_the_anomaly_columns_of_exactly_the_anomalous_rows(ecommerce):
    spec = ecommerce.spec
    ds = ecommerce.hook.get_dataset(spec, "live")
    live = pd.read_csv(ecommerce.tmp / "data/ecommerce/backtest/input.csv", dtype=str)
    live[["views", "revenue"]] = live[["views", "revenue"]].astype(float)
    expected = live.merge(_scores(ecommerce).drop(columns="key"),
                          on=["timestamp", "platform", "marketplace"], how="left")
    assert len(ds) == len(live) == ecommerce.summary["views"]["l4m_live_data"]["rows"]
    assert _rows(ds, expected.columns) == _rows(expected)
    assert 0 < ds["isviewsanomaly"].sum() < len(ds)
    _check_flags_and_time(ds, spec)
    order = ds[["event_time", "platform", "marketplace"]]
    pd.testing.assert_frame_equal(order, order.sort_values(list(order.columns)))
    assert list(ds.columns) == [c.name for c in datasets.live_data(spec).columns]


def test_dimension_contributions_is_the_seed_right_join(ecommerce):
    ds = ecommerce.hook.get_dataset(ecommerce.spec, "contributions")
    expected = _contributions(ecommerce).merge(_scores(ecommerce).drop(columns="key"),
                                               on="timestamp", how="right")
    assert _rows(ds, expected.columns) == _rows(expected)
    _check_flags_and_time(ds, ecommerce.spec)
    assert list(ds.columns) == [c.name for c in datasets.dimension_contributions(
        ecommerce.spec).columns]


def test_declared_column_types_are_the_view_types(ecommerce):
    for ds in (datasets.live_data(ecommerce.spec),
               datasets.dimension_contributions(ecommerce.spec)):
        described = ecommerce.hook.query(f"DESCRIBE {ds.view}")
        assert list(zip(described["column_name"], described["column_type"])) == [
            (c.name, datasets.SQL_TYPES[c.type]) for c in ds.columns]


def test_other_measures_dimensions_and_formats(three_measures):
    ns = three_measures
    assert sum(ns.run.anomalies.values()) > 0
    ds = ns.hook.get_dataset(ns.spec, "live")
    assert [c for c in ds.columns if c.startswith("is")] == [
        "isviewsanomaly", "isrevenueanomaly", "isclicksanomaly"]
    live = ns.hook.query('SELECT * FROM live')
    assert list(live.columns) == ["time", "my-dim", "views", "revenue", "clicks"]
    live["timestamp"] = pd.to_datetime(live["time"].astype(int), unit="s").dt.strftime(
        "%Y-%m-%d %H:%M:%S")
    expected = live.drop(columns="time").merge(_scores(ns).drop(columns="key"),
                                               on=["timestamp", "my-dim"], how="left")
    assert len(ds) == len(live) == ns.run.rows_processed
    assert _rows(ds, expected.columns) == _rows(expected)
    _check_flags_and_time(ds, ns.spec)
    contributions = ns.hook.get_dataset(ns.spec, "contributions")
    assert len(contributions) >= len(_scores(ns))


def test_generated_sql_quotes_any_name():
    spec = parse_spec({
        "AnomalyDetectorName": "q",
        "AnomalyDetectorConfig": {"AnomalyDetectorFrequency": "PT10M"},
        "MetricSet": {"MetricList": [{"MetricName": n, "AggregationFunction": "SUM"}
                                     for n in ("a", "b", "c")],
                      "DimensionList": ["x", "y"],
                      "TimestampColumn": {"ColumnName": "t",
                                          "ColumnFormat": "dd/MM/yyyy HH:mm"}}})
    spec = dataclasses.replace(spec, dimensions=('my "dim"', "event_time"))
    con = duckdb.connect()
    con.execute('CREATE TABLE live (t VARCHAR, "my ""dim""" VARCHAR, event_time VARCHAR, '
                "a DOUBLE, b DOUBLE, c DOUBLE)")
    con.execute("INSERT INTO live VALUES ('04/03/2021 05:10', 'v''1', 'e', 1, 2, 3), "
                "('04/03/2021 05:19', 'v''1', 'e', 4, 5, 6), ('bad', 'v''1', 'e', 7, 8, 9)")
    names = ", ".join(datasets.quote(c.name) + " VARCHAR" for c in datasets.score_columns(spec))
    con.execute(f"CREATE TABLE metricvalueanomalyscore ({names})")
    con.execute("INSERT INTO metricvalueanomalyscore VALUES ('k', '2021-03-04 05:10:00', "
                "'v''1', 'e', '1', '90', NULL, NULL, '3', '0')")
    con.execute("CREATE TABLE dimensioncontributions AS SELECT '2021-03-04 05:10:00' AS "
                "timestamp, 'a' AS metricname, 'my \"dim\"' AS dimensionname, 'v''1' AS "
                "dimensionvalue, 100.0 AS valuecontribution")
    live = con.execute(datasets.live_data(spec, database="main").sql).df().sort_values("a")
    assert list(live.columns)[:4] == ["timestamp", "event_time_", 'my "dim"', "event_time"]
    assert live["agroupscore"].tolist()[:2] == [90, 90] and math.isnan(live["agroupscore"].iloc[2])
    assert live["isaanomaly"].tolist() == [True, True, False]
    assert live["iscanomaly"].tolist() == [False, False, False]
    contributions = con.execute(datasets.dimension_contributions(spec).sql).df()
    assert contributions[["dimensionname", "my \"dim\"", "cgroupscore"]].values.tolist() == [
        ['my "dim"', "v'1", 0.0]]


def test_a_result_table_with_a_repeated_column_is_refused(ecommerce):
    spec = dataclasses.replace(ecommerce.spec, dimensions=("viewsAnomalyMetricValue",))
    with pytest.raises(ValueError, match="two columns named 'viewsanomalymetricvalue'"):
        datasets.live_data(spec)


@pytest.mark.parametrize("fmt, timezone, value, expected", [
    ("yyyy-MM-dd HH:mm:ss", "UTC", "2021-03-04 05:06:07", "2021-03-04 05:06:07"),
    ("yyyy-MM-dd'T'HH:mm", "Europe/Paris", "2021-03-04T05:06", "2021-03-04 05:06:00"),
    ("dd/MM/yy HH", "UTC", "04/03/21 05", "2021-03-04 05:00:00"),
    ("yyyyMMddHHmmss.SSS", "UTC", "20210304050607.123", "2021-03-04 05:06:07"),
    ("EPOCH_SECONDS", "UTC", "1614834367", "2021-03-04 05:06:07"),
    ("EPOCH_MILLISECONDS", "Etc/UTC", "1614834367999", "2021-03-04 05:06:07"),
    (None, "UTC", "2021-03-04T05:06:07Z", "2021-03-04 05:06:07"),
    ("yyyy-MM-dd HH:mm:ss", "UTC", "not a time", None),
])
def test_live_timestamp_formats(ecommerce, fmt, timezone, value, expected):
    spec = dataclasses.replace(ecommerce.spec, timestamp_format=fmt, timezone=timezone)
    sql = datasets.live_time_sql(spec, "v")
    got = duckdb.connect().execute(f"SELECT {sql} FROM (SELECT '{value}' AS v)").fetchone()[0]
    assert (got and got.strftime("%Y-%m-%d %H:%M:%S")) == expected


@pytest.mark.parametrize("fmt, timezone", [("MMM dd yyyy HH:mm", "UTC"), ("d/M/yyyy H", "UTC"),
                                           ("EPOCH_SECONDS", "Europe/Paris")])
def test_unsupported_live_formats(ecommerce, fmt, timezone):
    spec = dataclasses.replace(ecommerce.spec, timestamp_format=fmt, timezone=timezone)
    with pytest.raises(datasets.UnsupportedTimestampFormat):
        datasets.live_data(spec)


def test_unsupported_live_format_skips_only_the_live_view(ecommerce, tmp_path):
    spec = dataclasses.replace(ecommerce.spec, timestamp_format="MMM dd yyyy HH:mm")
    locations = dataclasses.replace(ecommerce.locations, live_root=None)
    summary = LocalCatalogHook(str(tmp_path / "c.duckdb")).refresh(spec, locations)
    assert list(summary["skipped"]) == ["l4m_live_data"]
    assert list(summary["views"]) == ["l4m_dimension_contributions"]


# ------------------------------------------------------------------------------ hook


def test_empty_results_folder(ecommerce, tmp_path):
    locations = dataclasses.replace(ecommerce.locations, results=f"file://{tmp_path}/none")
    hook = LocalCatalogHook(f"file://{tmp_path}/c.duckdb")
    summary = hook.refresh(ecommerce.spec, locations)
    assert summary["tables"]["metricvalueanomalyscore"] == {"files": None, "rows": 0}
    assert summary["tables"]["dimensioncontributions"] == {"files": None, "rows": 0}
    live = hook.get_dataset(ecommerce.spec, "live")
    assert len(live) == ecommerce.run.rows_processed
    assert live["viewsgroupscore"].isna().all() and not live["isviewsanomaly"].any()
    contributions = hook.get_dataset(ecommerce.spec, "contributions")
    assert contributions.empty
    assert list(contributions.columns) == [
        c.name for c in datasets.dimension_contributions(ecommerce.spec).columns]


def test_no_live_files(ecommerce, tmp_path):
    (tmp_path / "live" / "20210101" / ".part.tmp").parent.mkdir(parents=True)
    (tmp_path / "live" / "20210101" / ".part.tmp").write_text("hidden files are skipped")
    locations = dataclasses.replace(ecommerce.locations, live_root=f"file://{tmp_path}/live")
    summary = LocalCatalogHook(str(tmp_path / "c.duckdb")).refresh(ecommerce.spec, locations)
    assert summary["tables"]["live"] == {"files": None, "rows": 0}
    assert summary["views"]["l4m_live_data"]["rows"] == 0


def test_live_csv_options(ecommerce, tmp_path):
    """Delimiter, no header (HeaderList), no quoting, gzip; other columns kept, lower-cased."""
    folder = tmp_path / "live" / "20210109" / "0000"
    folder.mkdir(parents=True)
    (folder / "part").write_bytes(gzip.compress(
        b"2021-01-09 00:00:00;mobile_app;uk;\"x;5;1.5\n"
        b"2021-01-09 00:00:00;pc_web;uk;y;bad;2\n"
        b"2021-01-09 99:00:00;pc_web;us;z;3;3\n"))
    doc = dict(ecommerce.spec.document, MetricSet=dict(
        ecommerce.spec.document["MetricSet"], MetricSource={"S3SourceConfig": {
            "TemplatedPathList": [f"file://{tmp_path}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"],
            "FileFormatDescriptor": {"CsvFormatDescriptor": {
                "FileCompression": "GZIP", "ContainsHeader": False, "Delimiter": ";",
                "QuoteSymbol": "", "HeaderList": ["timestamp", "platform", "marketplace",
                                                  "Note", "views", "revenue"]}}}}))
    spec = parse_spec(doc)
    locations = dataclasses.replace(resolve(spec), results=ecommerce.locations.results)
    hook = LocalCatalogHook(str(tmp_path / "c.duckdb"))
    hook.refresh(spec, locations)
    live = hook.query("SELECT * FROM live ORDER BY note")
    assert list(live.columns) == ["timestamp", "platform", "marketplace", "note", "views",
                                  "revenue"]
    assert live["note"].tolist() == ['"x', "y", "z"]
    assert live["views"].tolist()[0] == 5 and math.isnan(live["views"].iloc[1])
    ds = hook.get_dataset(spec, "live")  # bad values: NULL, never an error
    assert ds["isviewsanomaly"].tolist() == [True, False, False]  # mobile_app uk is anomalous
    assert ds["event_time"].isna().tolist() == [False, False, True]


def test_refresh_twice_is_idempotent(ecommerce):
    before = ecommerce.hook.get_dataset(ecommerce.spec, "live")
    assert ecommerce.hook.refresh(ecommerce.spec, ecommerce.locations) == ecommerce.summary
    pd.testing.assert_frame_equal(ecommerce.hook.get_dataset(ecommerce.spec, "live"), before)


def test_s3_locations_are_refused_with_the_url(ecommerce, tmp_path):
    locations = dataclasses.replace(ecommerce.locations, live_root="s3://bucket/live")
    with pytest.raises(ValueError, match="s3://bucket/live"):
        LocalCatalogHook(str(tmp_path / "c.duckdb")).refresh(ecommerce.spec, locations)
    with pytest.raises(ValueError, match="s3://bucket/catalog.duckdb"):
        LocalCatalogHook("s3://bucket/catalog.duckdb")


def test_unknown_dataset_and_missing_catalog(ecommerce, tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        ecommerce.hook.get_dataset(ecommerce.spec, "other")
    with pytest.raises(FileNotFoundError, match="refresh"):
        LocalCatalogHook(str(tmp_path / "none.duckdb")).query("SELECT 1")


def test_query_with_parameters(ecommerce):
    got = ecommerce.hook.query("SELECT count(*) AS n FROM live WHERE platform = ?", ["pc_web"])
    assert got["n"].item() == ecommerce.run.rows_processed // 3


# ------------------------------------------------------------------------------ operator


def test_operator_refreshes_the_catalog(ecommerce, tmp_path):
    op = LocalCatalogOperator(task_id="catalog", definition=f"file://{ecommerce.definition}",
                              catalog_path=str(tmp_path / "op.duckdb"))
    assert set(op.template_fields) == {"definition", "catalog_path"}
    summary = op.execute(context={})
    assert summary["catalog"] == str(tmp_path / "op.duckdb")
    assert summary["views"] == ecommerce.summary["views"]
