"""Interval times and keys shared by hooks, sensors, triggers, alerts and writers.

Standard library only (safe at DAG parse time and inside the engine).
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
STAMP = "%Y%m%d_%H%M%S"


def utc_time(value: str | dt.datetime | float) -> dt.datetime:
    """A point in time in UTC: a datetime (naive = UTC), epoch seconds or an ISO-8601
    string (``Z`` accepted; without an offset, UTC)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 date-time such as 2021-02-14T04:00:00Z "
                             f"(got {value!r})") from None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a point in time: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


def utc_epoch(value: str | dt.datetime | float) -> int:
    """Epoch seconds of :func:`utc_time` ``(value)``."""
    return int(utc_time(value).timestamp())


def iso_utc(value: str | dt.datetime | float) -> str:
    """``2021-03-01T00:00:00Z``."""
    return utc_time(value).strftime(ISO_UTC)


def interval_stamp(value: str | dt.datetime | float) -> str:
    """``yyyyMMdd_HHmmss`` of an interval start in UTC: the interval key in file names."""
    return utc_time(value).strftime(STAMP)


def interval_paths(spec, epoch: int) -> list[str]:
    """The definition's templated paths rendered for the interval starting at ``epoch``
    (placeholders in the metric set's timezone)."""
    from l4m.spec import render_templated_path

    local = dt.datetime.fromtimestamp(epoch, ZoneInfo(spec.timezone))
    return [render_templated_path(path, local) for path in spec.templated_paths]
