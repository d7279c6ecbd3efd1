"""Render the local dashboard: the HTML page that stands in for the QuickSight dashboard."""
from __future__ import annotations

from collections.abc import Sequence

from l4m.compat import BaseOperator, Context


class LocalDashboardOperator(BaseOperator):
    """Render a detector's dashboard from the local catalog and its anomaly groups.

    Reads the ``live`` and ``contributions`` datasets through
    :class:`l4m.hooks.catalog.LocalCatalogHook` and the groups from
    ``<results>/anomalyGroups.jsonl`` (none when the file is missing), then writes one
    self-contained HTML page (see ``docs/dashboard.md``). Returns the page's location.

    :param definition: path (or ``file://`` URL) of the detector definition JSON. (templated)
    :param catalog_path: the DuckDB catalog; default: the definition's
        ``Publish.Local.CatalogPath`` or the default location. (templated)
    :param dashboard_path: where to write the page; default: the definition's
        ``Publish.Local.DashboardPath`` or the default location. (templated)
    """

    template_fields: Sequence[str] = ("definition", "catalog_path", "dashboard_path")
    ui_color = "#fde8d8"

    def __init__(self, *, definition: str, catalog_path: str | None = None,
                 dashboard_path: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.definition = definition
        self.catalog_path = catalog_path
        self.dashboard_path = dashboard_path

    def execute(self, context: Context) -> str:
        from l4m.dashboard import read_groups, render_dashboard, write_dashboard
        from l4m.hooks.catalog import LocalCatalogHook
        from l4m.io.storage import read_definition
        from l4m.locations import resolve

        spec = read_definition(self.definition)
        where = resolve(spec)
        hook = LocalCatalogHook(self.catalog_path or where.catalog)
        html = render_dashboard(spec, hook.get_dataset(spec, "live"),
                                hook.get_dataset(spec, "contributions"),
                                read_groups(where.results))
        target = self.dashboard_path or where.dashboard
        write_dashboard(target, html)
        self.log.info("Dashboard of %s written to %s", spec.name, target)
        return target
