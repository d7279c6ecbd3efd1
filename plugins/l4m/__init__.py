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
    }
