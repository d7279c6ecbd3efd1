"""Refresh a detector's local catalog (the local stand-in for a Glue crawler run)."""
from __future__ import annotations

from collections.abc import Sequence

from l4m.compat import BaseOperator, Context


class LocalCatalogOperator(BaseOperator):
    """(Re)create the catalog tables and dataset views of a detector; return the summary.

    The summary (tables, views, row counts) is pushed as the task's XCom value.

    :param definition: path or ``file://`` URL of the detector definition JSON file
        (templated).
    :param catalog_path: DuckDB file to write instead of the definition's
        ``Publish.Local.CatalogPath`` or the default location (templated).
    """

    template_fields: Sequence[str] = ("definition", "catalog_path")
    ui_color = "#e8f4e8"

    def __init__(self, *, definition: str, catalog_path: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.catalog_path = catalog_path

    def execute(self, context: Context) -> dict:
        from l4m.hooks.catalog import LocalCatalogHook
        from l4m.io.storage import read_definition
        from l4m.locations import resolve

        spec = read_definition(self.definition)
        locations = resolve(spec)
        hook = LocalCatalogHook(self.catalog_path or locations.catalog)
        return hook.refresh(spec, locations)
