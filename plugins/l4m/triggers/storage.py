"""Triggers that poll storage (``file://`` or ``s3://``, read through ObjectStoragePath).

A trigger carries only plain values (URLs, ISO-8601 times, statuses, a poll interval).
Its :meth:`~StoragePollTrigger.check` is the one blocking check: the trigger runs it in a
thread every ``poll_interval`` seconds, and the matching sensor calls it when it pokes.
"""
from __future__ import annotations

import abc
import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

from l4m.compat import BaseTrigger, TriggerEvent
from l4m.intervals import utc_time
from l4m.io.inputs import data_files, uncached
from l4m.io.storage import open_path

# The Status values of DescribeAnomalyDetector.
DETECTOR_STATUSES = (
    "INACTIVE", "ACTIVATING", "LEARNING", "ACTIVE", "BACK_TEST_ACTIVATING",
    "BACK_TEST_ACTIVE", "BACK_TEST_COMPLETE", "FAILED", "DEACTIVATED",
)


def utcnow() -> dt.datetime:
    """The current time in UTC (the one clock of the sensors and triggers)."""
    return dt.datetime.now(dt.timezone.utc)


def has_data(url: str, aws_conn_id: str | None = None) -> bool:
    """Whether ``url`` is a file, or a folder holding a file at any depth (names starting
    with ``.`` or ``_`` do not count): the files the detect step reads
    (:func:`l4m.io.inputs.data_files`)."""
    return bool(data_files(open_path(url, aws_conn_id), url))


def read_json(url: str, aws_conn_id: str | None = None) -> Any:
    """The JSON document at ``url``, or None when there is no such file."""
    try:
        text = uncached(open_path(url, aws_conn_id)).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


class StoragePollTrigger(BaseTrigger):
    """Run :meth:`check` every ``poll_interval`` seconds until it returns an event payload.

    An exception in the check ends the wait with ``{"status": "error", "message": ...}``.
    Subclasses name their own constructor arguments in ``fields``: with ``aws_conn_id``
    and ``poll_interval``, that is what is serialised.

    :param aws_conn_id: Airflow connection for ``s3://`` URLs.
    :param poll_interval: seconds between two checks.
    """

    fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, aws_conn_id: str | None = None, poll_interval: float = 60.0) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.poll_interval = poll_interval

    @abc.abstractmethod
    def check(self) -> dict | None:
        """One blocking check: the event payload when the wait is over, else None."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        cls = type(self)
        names = (*self.fields, "aws_conn_id", "poll_interval")
        kwargs = {name: getattr(self, name) for name in names}
        return f"{cls.__module__}.{cls.__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                payload = await asyncio.to_thread(self.check)
            except Exception as err:  # reported to the task, which fails with the message
                self.log.exception("Check of %s failed", type(self).__name__)
                yield TriggerEvent({"status": "error", "message": f"{type(err).__name__}: {err}"})
                return
            if payload is not None:
                yield TriggerEvent(payload)
                return
            await asyncio.sleep(self.poll_interval)


class IntervalDataTrigger(StoragePollTrigger):
    """Wait for an interval's data: every URL a file or a folder with a file.

    Nothing is reported before ``not_before``. Events: ``{"status": "present", "paths"}``
    once every URL has data; at ``deadline`` ``{"status": "missing", "paths",
    "missing_paths", "deadline"}``.

    :param urls: the interval's rendered paths.
    :param not_before: ISO-8601 time before which the data cannot be complete.
    :param deadline: ISO-8601 time at which data still missing is declared missing.
    :param aws_conn_id: Airflow connection for ``s3://`` URLs.
    :param poll_interval: seconds between two checks.
    """

    fields = ("urls", "not_before", "deadline")

    def __init__(
        self, *, urls: Sequence[str], not_before: str, deadline: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.urls = list(urls)
        self.not_before = not_before
        self.deadline = deadline

    def check(self) -> dict | None:
        now = utcnow()
        if now < utc_time(self.not_before):
            return None
        missing = [url for url in self.urls if not has_data(url, self.aws_conn_id)]
        if not missing:
            return {"status": "present", "paths": self.urls}
        if now >= utc_time(self.deadline):
            return {
                "status": "missing",
                "paths": self.urls,
                "missing_paths": missing,
                "deadline": self.deadline,
            }
        return None


class FileArrivalTrigger(StoragePollTrigger):
    """Wait for a JSON file; event ``{"status": "present", "url", "content"}``.

    :param url: the file to wait for.
    :param aws_conn_id: Airflow connection for ``s3://`` URLs.
    :param poll_interval: seconds between two checks.
    """

    fields = ("url",)

    def __init__(self, *, url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url

    def check(self) -> dict | None:
        content = read_json(self.url, self.aws_conn_id)
        return None if content is None else {"status": "present", "url": self.url,
                                             "content": content}


class DetectorStatusTrigger(StoragePollTrigger):
    """Wait until the ``Status`` of a DescribeAnomalyDetector-shaped JSON file is a target
    or a failure status.

    Events: ``{"status": "success", "detector"}`` (the file's content) or
    ``{"status": "failure", "detector", "message"}`` (with the FailureReason).

    :param url: the detector status file (``<state>/detector.json``).
    :param target_statuses: statuses that end the wait successfully.
    :param failure_statuses: statuses that end it with a failure.
    :param aws_conn_id: Airflow connection for ``s3://`` URLs.
    :param poll_interval: seconds between two checks.
    """

    fields = ("url", "target_statuses", "failure_statuses")

    def __init__(
        self,
        *,
        url: str,
        target_statuses: Sequence[str],
        failure_statuses: Sequence[str] = ("FAILED",),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)

    def check(self) -> dict | None:
        detector = read_json(self.url, self.aws_conn_id)
        if detector is None:
            return None
        status = detector.get("Status") if isinstance(detector, dict) else None
        if status not in DETECTOR_STATUSES:
            raise ValueError(f"{self.url}: not a detector status file (Status {status!r})")
        if status in self.target_statuses:
            return {"status": "success", "detector": detector}
        if status in self.failure_statuses:
            reason = detector.get("FailureReason") or "no FailureReason given"
            name = detector.get("AnomalyDetectorName", self.url)
            return {"status": "failure", "detector": detector,
                    "message": f"detector {name} is {status}: {reason}"}
        return None
