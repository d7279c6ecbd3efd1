"""Tutorial data for a live Airflow (docker-compose, the real-scheduler test).

``l4m tutorial --data DIR`` writes the synthetic ecommerce data around *now*: three
weeks of history, the last ``catchup_hours`` complete hours and the next
``live_days`` days as hourly live files. It also writes ``DIR/detectors/ecommerce.json``.
That definition learns the history before those hours, catches them up at once
(``Schedule.Catchup``), then detects each new hour as the clock reaches it, with
results, state, catalog and dashboard under ``DIR``. The files for future hours stand
in for an upstream job that writes each hour's file when the hour ends.

Running it again keeps what is there (results and state of past runs included).
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from .demo import DETECTOR, demo_definition

HISTORY_DAYS = 21


def definition_path(data_dir: Path) -> Path:
    """Where the tutorial definition goes: the folder ``L4M_DETECTORS_DIR`` points at."""
    return Path(data_dir) / "detectors" / f"{DETECTOR}.json"


def write_tutorial(data_dir: Path, *, now: dt.datetime | None = None, catchup_hours: int = 3,
                   live_days: int = 7) -> tuple[Path, bool]:
    """Write the data and the definition unless present; return (definition, written)."""
    from .synth import write_dataset

    if catchup_hours < 0 or live_days < 1:
        raise ValueError(f"need catchup_hours >= 0 and live_days >= 1 "
                         f"(got {catchup_hours} and {live_days})")
    data_dir = Path(data_dir).resolve()
    target = definition_path(data_dir)
    if target.exists():
        return target, False
    now = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    live_start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=catchup_hours)
    first_day = live_start.date() - dt.timedelta(days=HISTORY_DAYS)
    days = (now.date() - first_day).days + live_days + 1
    paths = write_dataset(data_dir, start=first_day, days=days)
    definition = demo_definition(paths.definition, data_dir, live_start)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_text(json.dumps(definition, indent=1) + "\n", encoding="utf-8")
    partial.replace(target)     # the DAG file never sees half a definition
    return target, True
