"""The ``l4m`` Airflow plugin, for deployments that put the provider in the plugins
folder instead of pip-installing it: Amazon MWAA's ``plugins.zip`` (docs/mwaa.md).

Without a pip install there is no ``apache_airflow_provider`` entry point, so
``airflow providers list`` does not show l4m; this plugin shows it in ``airflow plugins``
and in the UI's plugin list. The DAGs import ``l4m`` directly, as Airflow puts the plugins
folder on ``sys.path``; ``.airflowignore`` keeps the plugin loader out of ``l4m/``.
"""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


class L4MPlugin(AirflowPlugin):
    name = "l4m"
