"""Airflow import error for every detector definition in ``$L4M_DETECTORS_DIR`` (default:
``detectors/`` beside this file) that got no DAGs, naming the file and the field.

It defines no DAG: it exists so that a broken definition shows up as an import error
(UI, ``airflow dags list-import-errors``, DagBag checks) while ``l4m_detectors.py``
keeps the DAGs of every other detector. See docs/dags.md.
"""
from __future__ import annotations

from pathlib import Path

from l4m.dag_factory import raise_definition_errors

raise_definition_errors(Path(__file__).resolve().parent / "detectors")
