"""The one place where Airflow 2.11 and Airflow 3.x differ for this provider.

Operators, sensors, hooks, notifiers and DAGs import Airflow names from here, never
from ``airflow`` directly, so a version difference is fixed in one file.

* Airflow 3 moved the authoring API to the Task SDK (``airflow.sdk``); hooks, trigger
  rules, timetables and task exceptions joined it in 3.2 (Amazon MWAA runs 3.0.6), so
  before that they come from their historic modules too;
* Airflow 2 has the same classes under their historic modules, and calls Assets
  "Datasets".
"""
from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from airflow.configuration import conf

_MAJOR_MINOR = tuple(int(part) for part in AIRFLOW_VERSION.split(".")[:2])
AIRFLOW_V3 = _MAJOR_MINOR >= (3, 0)

if AIRFLOW_V3:
    from airflow.sdk import (
        DAG,
        Asset,
        BaseNotifier,
        BaseOperator,
        BaseSensorOperator,
        Context,
        ObjectStoragePath,
        Param,
        PokeReturnValue,
    )
else:  # Airflow 2.11
    from airflow.datasets import Dataset as Asset
    from airflow.io.path import ObjectStoragePath
    from airflow.models.baseoperator import BaseOperator
    from airflow.models.dag import DAG
    from airflow.models.param import Param
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
    from airflow.utils.context import Context

if _MAJOR_MINOR >= (3, 2):
    from airflow.sdk import BaseHook, DeltaDataIntervalTimetable, TriggerRule
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )
else:  # Airflow 2.11 to 3.1
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.hooks.base import BaseHook
    from airflow.timetables.interval import DeltaDataIntervalTimetable
    from airflow.utils.trigger_rule import TriggerRule

from airflow.triggers.base import BaseTrigger, TriggerEvent


def dag_bag(dag_folder: str):
    """Airflow's DagBag of ``dag_folder``: from ``airflow.dag_processing.dagbag`` where it
    lives now (``airflow.models.dagbag`` there is deprecated), else from the old module."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # older Airflow (2.11 and 3.0 among them)
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder)


def dag_test(dag, run_after):
    """Run ``dag`` once in-process through Airflow's own runner (``DAG.test``): the
    manual run at ``run_after``, whose data interval is the one ending then."""
    if AIRFLOW_V3:
        return dag.test(logical_date=run_after)
    return dag.test(execution_date=run_after)


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` from the Airflow configuration (False if unset)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


__all__ = [
    "AIRFLOW_V3",
    "AIRFLOW_VERSION",
    "DAG",
    "AirflowException",
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Context",
    "DeltaDataIntervalTimetable",
    "ObjectStoragePath",
    "Param",
    "PokeReturnValue",
    "TaskDeferred",
    "TriggerEvent",
    "TriggerRule",
    "dag_test",
    "default_deferrable",
]
