"""Airflow DAGs of the L4M provider: for every detector definition (``*.json``) in
``$L4M_DETECTORS_DIR`` (default: ``detectors/`` beside this file), a manual
``l4m_<name>_setup`` DAG and a scheduled ``l4m_<name>_detect`` DAG.
See docs/dags.md; the DAGs are built by :mod:`l4m.dag_factory`.
"""
from __future__ import annotations

from pathlib import Path

from l4m.dag_factory import build_dags

globals().update(build_dags(Path(__file__).resolve().parent / "detectors"))
