"""Packaging: the provider is registered with Airflow, its listed modules import, and
the plugins folder's .airflowignore keeps the package out of the plugin loader."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import l4m

REPO = Path(__file__).resolve().parent.parent


def test_provider_info_modules_import():
    info = l4m.get_provider_info()
    modules = [m for kind in ("operators", "sensors", "hooks", "triggers")
               for entry in info[kind] for m in entry["python-modules"]]
    for name in modules:
        importlib.import_module(name)
    for path in info["notifications"]:
        module, _, cls = path.rpartition(".")
        assert hasattr(importlib.import_module(module), cls)


def test_airflow_lists_the_provider():
    done = subprocess.run([sys.executable, "-m", "airflow", "providers", "list", "-o", "plain"],
                          capture_output=True, text=True, check=True)
    assert "airflow-provider-l4m" in done.stdout


def test_plugin_loader_skips_the_package():
    from airflow.utils.file import find_path_from_directory

    plugins = REPO / "plugins"
    seen = [Path(p).relative_to(plugins) for p in find_path_from_directory(str(plugins),
                                                                          ".airflowignore")]
    assert not [p for p in seen if p.parts[0] == "l4m"], "package modules reach the loader"
    assert (plugins / "l4m" / "__init__.py").exists()
