"""Where a detector's results, state, catalog and dashboard live (definition or defaults).

The definition's ``Storage`` and ``Publish.Local`` sections win; anything left out
goes under ``$L4M_DATA_ROOT/<detector name>/`` (default root:
``file://$AIRFLOW_HOME/l4m``, ``AIRFLOW_HOME`` defaulting to ``~/airflow``)::

    results/        the seed S3 layout (anomalyResults/…, anomalyGroups/…)
    state/          detector status and versioned model state
    catalog.duckdb  the local catalog (DuckDB stand-in for Glue + Athena)
    dashboard.html  the local dashboard

Reading the environment is the only side effect: no I/O, safe at DAG parse time.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from l4m.spec import DetectorSpec
from l4m.spec_paths import live_root


@dataclass(frozen=True)
class Locations:
    """Resolved locations of one detector: URLs (``file://`` or ``s3://``)."""

    results: str
    state: str
    catalog: str
    dashboard: str
    live_root: str | None   # the templated path up to its first placeholder (the `live` table)


def default_root(environ: Mapping[str, str] = os.environ) -> str:
    """``$L4M_DATA_ROOT``, else ``file://$AIRFLOW_HOME/l4m``."""
    root = environ.get("L4M_DATA_ROOT")
    if not root:
        home = environ.get("AIRFLOW_HOME") or os.path.join(os.path.expanduser("~"), "airflow")
        root = f"file://{os.path.abspath(home)}/l4m"
    elif "://" not in root:
        root = f"file://{os.path.abspath(root)}"
    return root.rstrip("/")


def resolve(spec: DetectorSpec, environ: Mapping[str, str] = os.environ) -> Locations:
    """The locations of ``spec``'s detector."""
    base = f"{default_root(environ)}/{spec.name}"
    p = spec.pipeline
    return Locations(
        results=p.results_path or f"{base}/results",
        state=p.state_path or f"{base}/state",
        catalog=p.catalog_path or f"{base}/catalog.duckdb",
        dashboard=p.dashboard_path or f"{base}/dashboard.html",
        live_root=live_root(spec.templated_paths[0]) if spec.templated_paths else None,
    )


def local_path(url: str | os.PathLike) -> str:
    """The filesystem path of a ``file://`` URL or a plain path (``ValueError`` for other
    schemes: the local catalog and dashboard work on local files only)."""
    text = os.fspath(url)
    if text.startswith("file://"):
        return text[len("file://"):]
    if "://" in text:
        raise ValueError(f"{text!r}: only local paths and file:// URLs are supported here")
    return text
