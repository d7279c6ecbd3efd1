"""The local catalog: a DuckDB file standing in for the Glue crawler and Athena.

:meth:`LocalCatalogHook.refresh` plays the crawler: it (re)creates the tables ``live``,
``metricvalueanomalyscore`` and ``dimensioncontributions`` as views over the files, so
queries always read the current files, then the two seed datasets of
:mod:`l4m.datasets` as views. Every call opens its own short-lived connection, so no task
keeps the file locked. Local (``file://``) data only.
"""
from __future__ import annotations

import glob
import os
from typing import TYPE_CHECKING, Any

from l4m import datasets
from l4m.compat import BaseHook
from l4m.datasets import SQL_TYPES, Column, quote
from l4m.locations import Locations, local_path
from l4m.spec import DetectorSpec

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# DuckDB read_csv encodings for Python codec names (DuckDB reads these without extensions).
_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "ascii": "utf-8", "utf-16": "utf-16",
              "iso8859-1": "latin-1"}
_DATA_FILES = "**/[!._]*"  # every file below the folder, but hidden and _SUCCESS-like ones


class LocalCatalogHook(BaseHook):
    """Create and query the local catalog file (no Airflow connection needed).

    :param catalog_path: the DuckDB file, as a ``file://`` URL or a plain path.
    """

    hook_name = "L4M local catalog"

    def __init__(self, catalog_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.catalog_path = local_path(catalog_path)

    def get_conn(self, read_only: bool = True) -> duckdb.DuckDBPyConnection:
        """A new connection to the catalog file; close it (``with``) after use."""
        import duckdb

        if read_only and not os.path.exists(self.catalog_path):
            raise FileNotFoundError(f"{self.catalog_path}: no catalog yet, run refresh first")
        return duckdb.connect(self.catalog_path, read_only=read_only)

    def refresh(self, spec: DetectorSpec, locations: Locations) -> dict:
        """(Re)create the three tables and the two dataset views; return a summary.

        A folder without files gives an empty table (refresh again once files exist).
        A live timestamp format the shared SQL cannot parse skips the live-data view.
        """
        results = local_path(locations.results)
        live = local_path(locations.live_root) if locations.live_root else None
        os.makedirs(os.path.dirname(os.path.abspath(self.catalog_path)), exist_ok=True)
        summary: dict = {"catalog": self.catalog_path, "tables": {}, "views": {}, "skipped": {}}
        with self.get_conn(read_only=False) as con:
            con.begin()
            tables = {
                datasets.LIVE_TABLE: _live_source(con, spec, live),
                datasets.SCORE_TABLE: _result_source(
                    f"{results}/anomalyResults/metricValueAnomalyScore",
                    datasets.score_columns(spec)),
                datasets.CONTRIB_TABLE: _result_source(
                    f"{results}/anomalyResults/dimensionContributions",
                    datasets.CONTRIBUTION_COLUMNS),
            }
            for name, (sql, pattern) in tables.items():
                con.execute(f"CREATE OR REPLACE VIEW {quote(name)} AS {sql}")
                summary["tables"][name] = {"files": pattern, "rows": _count(con, name)}
            for which in ("live", "contributions"):
                try:
                    ds = datasets.dataset(spec, which)
                except datasets.UnsupportedTimestampFormat as err:
                    con.execute(f"DROP VIEW IF EXISTS {quote(datasets.LIVE_VIEW)}")
                    summary["skipped"][datasets.LIVE_VIEW] = str(err)
                    self.log.warning("%s not created: %s", datasets.LIVE_VIEW, err)
                    continue
                con.execute(f"CREATE OR REPLACE VIEW {quote(ds.view)} AS {ds.sql}")
                summary["views"][ds.view] = {"dataset_id": ds.dataset_id,
                                             "rows": _count(con, ds.view)}
            con.commit()
        self.log.info("catalog %s refreshed: %s", self.catalog_path, summary)
        return summary

    def get_dataset(self, spec: DetectorSpec, which: str) -> pd.DataFrame:
        """The dataset ``"live"`` or ``"contributions"``, ordered by time then dimensions."""
        ds = datasets.dataset(spec, which)
        order = ", ".join(f"{quote(c)} NULLS LAST" for c in ds.sort_columns)
        return self.query(f"SELECT * FROM {quote(ds.view)} ORDER BY {order}")

    def query(self, sql: str, params: list | dict | None = None) -> pd.DataFrame:
        """Run one read-only query on the catalog and return its rows."""
        with self.get_conn() as con:
            cursor = con.execute(sql, params) if params is not None else con.execute(sql)
            return cursor.df()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _empty(columns: tuple[Column, ...]) -> str:
    """A SELECT of no rows with ``columns``."""
    items = ", ".join(f"CAST(NULL AS {SQL_TYPES[c.type]}) AS {quote(c.name)}" for c in columns)
    return f"SELECT {items} WHERE false"


def _result_source(folder: str, columns: tuple[Column, ...]) -> tuple[str, str | None]:
    """(SELECT, file pattern or None) of a result table: typed columns, in file order."""
    pattern = f"{folder}/*.csv"
    if not glob.glob(f"{glob.escape(folder)}/*.csv"):
        return _empty(columns), None
    types = ", ".join(f"{_literal(c.name)}: {_literal(SQL_TYPES[c.type])}" for c in columns)
    return (f"SELECT * FROM read_csv({_literal(pattern)}, header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {{{types}}})"), pattern


def _live_source(con: duckdb.DuckDBPyConnection, spec: DetectorSpec,
                 root: str | None) -> tuple[str, str | None]:
    """(SELECT, file pattern) of the live files: every column lower-cased, measures DOUBLE."""
    if root is None or not any(os.path.isfile(p) for p in glob.iglob(
            f"{glob.escape(root)}/{_DATA_FILES}", recursive=True)):
        return _empty(datasets.live_columns(spec)), None
    pattern = f"{root}/{_DATA_FILES}"
    fmt = spec.file_format
    compression = _literal("gzip" if fmt.compression == "GZIP" else "none")
    if not hasattr(fmt, "delimiter"):  # JSON Lines: the definition's columns, as text
        if _ENCODINGS.get(fmt.charset) != "utf-8":
            raise ValueError(f"JSON Lines in {fmt.charset} cannot be read by the local catalog")
        names = (spec.timestamp_column, *spec.dimensions, *spec.measure_names)
        columns = ", ".join(f"{_literal(n)}: 'VARCHAR'" for n in names)
        reader = (f"read_json({_literal(pattern)}, format = 'newline_delimited', "
                  f"compression = {compression}, columns = {{{columns}}})")
    else:
        if fmt.charset not in _ENCODINGS:
            raise ValueError(f"CSV in {fmt.charset} cannot be read by the local catalog "
                             f"(supported: {', '.join(sorted(_ENCODINGS))})")
        options = [f"header = {str(fmt.contains_header).lower()}", "all_varchar = true",
                   f"delim = {_literal(fmt.delimiter)}", f"quote = {_literal(fmt.quote_symbol)}",
                   f"escape = {_literal(fmt.quote_symbol)}", f"compression = {compression}",
                   f"encoding = {_literal(_ENCODINGS[fmt.charset])}"]
        if fmt.header_list:
            options.append(f"names = [{', '.join(map(_literal, fmt.header_list))}]")
        reader = f"read_csv({_literal(pattern)}, {', '.join(options)})"
    # trim() keeps DuckDB from pushing a TRY_CAST of these columns into the reader as a
    # strict cast that fails on a bad value (duckdb/duckdb#23818).
    measures = {m.lower() for m in spec.measure_names}
    items = []
    for row in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall():
        name, lower = quote(row[0]), row[0].lower()
        if lower in measures:
            name = f"TRY_CAST(trim({name}) AS DOUBLE)"
        elif lower == spec.timestamp_column.lower():
            name = f"trim({name})"
        items.append(f"{name} AS {quote(lower)}")
    return f"SELECT {', '.join(items)} FROM {reader}", pattern


def _count(con: duckdb.DuckDBPyConnection, view: str) -> int:
    return con.execute(f"SELECT count(*) FROM {quote(view)}").fetchone()[0]
