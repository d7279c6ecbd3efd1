"""The Athena views are the local catalog's views: the exact statements sent to Athena,
run in DuckDB over tables shaped as the Glue crawler makes them from our files, return
the same rows as the local catalog (one dataset definition, two engines)."""
from __future__ import annotations

import dataclasses
import json

import duckdb
import pandas as pd
import pytest
from l4m import datasets, runner, synth
from l4m.aws.athena_sql import statements, validation_statement, view_statement
from l4m.hooks.catalog import LocalCatalogHook
from l4m.locations import resolve
from l4m.spec import parse_spec
from l4m.spec_aws import AwsSpec, GlueSpec

DATABASE = "l4m-crawler-output-db"


def with_glue(spec):
    glue = GlueSpec(DATABASE, "crawler", "arn:aws:iam::123456789012:role/r")
    return dataclasses.replace(spec, pipeline=dataclasses.replace(
        spec.pipeline, aws=AwsSpec(glue=glue)))


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("athena")
    paths = synth.write_dataset(tmp / "data", seed=3, days=15, patterns="easy")
    doc = json.loads(paths.definition.read_text())
    doc["Storage"] = {"ResultsPath": f"file://{tmp}/results"}
    doc["Publish"] = {"Local": {"CatalogPath": f"file://{tmp}/catalog.duckdb"}}
    spec = parse_spec(doc)
    runner.replay(spec, runner.read_input(spec, str(paths.backtest_input)), tmp / "results")
    locations = resolve(spec)
    hook = LocalCatalogHook(locations.catalog)
    hook.refresh(spec, locations)
    return spec, locations, hook


def crawler_tables(con, spec, locations) -> None:
    """The three tables as the crawler makes them: types inferred from the CSVs, column
    names lower-cased, the live table partitioned by its two folder levels."""
    con.execute(f'CREATE SCHEMA "{DATABASE}"')
    live = locations.live_root.removeprefix("file://")
    results = locations.results.removeprefix("file://")
    sources = {
        "live": (f"{live}/*/*/*.csv", True),
        "metricvalueanomalyscore": (f"{results}/anomalyResults/metricValueAnomalyScore/*.csv",
                                    False),
        "dimensioncontributions": (f"{results}/anomalyResults/dimensionContributions/*.csv",
                                   False),
    }
    for table, (pattern, partitioned) in sources.items():
        con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{pattern}', union_by_name=true, "
                    "filename=true)")
        names = [r[0] for r in con.execute("DESCRIBE t").fetchall() if r[0] != "filename"]
        cols = [f'"{n}" AS "{n.lower()}"' for n in names]
        if partitioned:   # …/live/<yyyyMMdd>/<HHmm>/file.csv
            cols += ["split_part(filename, '/', -3) AS partition_0",
                     "split_part(filename, '/', -2) AS partition_1"]
        con.execute(f'CREATE TABLE "{DATABASE}"."{table}" AS SELECT {", ".join(cols)} FROM t')
        con.execute("DROP TABLE t")


def rows(con, view: str, order: tuple[str, ...]) -> pd.DataFrame:
    by = ", ".join(f'"{c}"' for c in order)
    frame = con.execute(f"SELECT * FROM {view} ORDER BY {by}").df()
    return frame.reset_index(drop=True)


@pytest.mark.parametrize("which", datasets.DATASET_KINDS)
def test_athena_view_sql_returns_the_local_catalog_rows(catalog, which):
    spec, locations, hook = catalog
    aws_spec = with_glue(spec)
    local = datasets.dataset(spec, which)
    con = duckdb.connect()
    crawler_tables(con, spec, locations)
    for _, sql in statements(aws_spec):
        con.execute(sql)                       # the DDL and checks Athena receives
    order = tuple(c.name for c in local.columns)
    ours = rows(con, f'"{DATABASE}"."{local.view}"', order)
    with hook.get_conn() as local_con:
        expected = rows(local_con, datasets.quote(local.view), order)
    assert len(expected) > 0
    if which == "live":
        assert expected[[c for c in expected.columns if c.endswith("groupscore")]].notna().any().any()
    assert list(ours.columns) == [c.name for c in local.columns]
    pd.testing.assert_frame_equal(ours, expected, check_dtype=False)


def test_statements_qualify_every_table_with_the_glue_database(catalog):
    spec = with_glue(catalog[0])
    for which in datasets.DATASET_KINDS:
        ddl = view_statement(spec, which)
        assert ddl.startswith(f'CREATE OR REPLACE VIEW "{DATABASE}"."')
        for table in ("live", "metricvalueanomalyscore", "dimensioncontributions"):
            assert f' "{table}"' not in ddl.replace(f'"{DATABASE}"."{table}"', "")
        assert validation_statement(spec, which).endswith("LIMIT 0")
