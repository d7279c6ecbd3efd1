"""airflow-provider-l4m: Lookout for Metrics, reborn as an Apache Airflow provider.

Importing this package is cheap: it loads neither Airflow nor pandas/numpy.
"""
from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-provider-l4m",
        "name": "Lookout for Metrics (embedded)",
        "description": "Anomaly detection on business metrics with L4M's detector definition, "
        "result layout and alerts, run by an embedded engine.",
        "versions": [__version__],
        "integrations": [{
            "integration-name": "Lookout for Metrics (embedded)",
            "tags": ["software"],
        }],
        "operators": [{"integration-name": "Lookout for Metrics (embedded)", "python-modules": [
            "l4m.operators.detector", "l4m.operators.alerts", "l4m.operators.catalog",
            "l4m.operators.dashboard", "l4m.operators.aws"]}],
        "sensors": [{"integration-name": "Lookout for Metrics (embedded)",
                     "python-modules": ["l4m.sensors.storage"]}],
        "hooks": [{"integration-name": "Lookout for Metrics (embedded)", "python-modules": [
            "l4m.hooks.detector", "l4m.hooks.catalog", "l4m.hooks.alerts", "l4m.hooks.glue",
            "l4m.hooks.quicksight"]}],
        "triggers": [{"integration-name": "Lookout for Metrics (embedded)",
                      "python-modules": ["l4m.triggers.storage"]}],
        "notifications": ["l4m.notifications.alerts.L4MAlertNotifier"],
    }
