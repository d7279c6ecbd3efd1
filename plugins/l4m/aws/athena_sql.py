"""The Athena statements of a definition: the two dataset views and their checks.

The view bodies are :mod:`l4m.datasets`' SELECTs, the same text the local DuckDB
catalog runs, qualified with the Glue database: one definition, two engines.
"""
from __future__ import annotations

from l4m.datasets import DATASET_KINDS, dataset, quote
from l4m.spec import DetectorSpec


def _database(spec: DetectorSpec) -> str:
    if spec.pipeline.aws.glue is None:
        raise ValueError(f"detector {spec.name} has no Publish.Glue section")
    return spec.pipeline.aws.glue.database


def view_name(spec: DetectorSpec, which: str) -> str:
    """``"database"."view"`` of one dataset."""
    return f"{quote(_database(spec))}.{quote(dataset(spec, which).view)}"


def view_statement(spec: DetectorSpec, which: str) -> str:
    """CREATE OR REPLACE VIEW for the dataset ``which`` ("live" or "contributions")."""
    body = dataset(spec, which, _database(spec)).sql
    return f"CREATE OR REPLACE VIEW {view_name(spec, which)} AS\n{body}"


def validation_statement(spec: DetectorSpec, which: str) -> str:
    """A query that plans the view (names and types checked) and scans no data."""
    return f"SELECT * FROM {view_name(spec, which)} LIMIT 0"


def statements(spec: DetectorSpec) -> list[tuple[str, str]]:
    """(description, SQL) of every statement, in order: each view, then its check."""
    out = []
    for which in DATASET_KINDS:
        out.append((f"create view {dataset(spec, which).view}", view_statement(spec, which)))
        out.append((f"check view {dataset(spec, which).view}", validation_statement(spec, which)))
    return out
