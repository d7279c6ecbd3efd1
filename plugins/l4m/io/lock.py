"""One writer at a time per detector: an exclusive lock on its state root.

Two runs of one detector can start together (two schedulers, a manual trigger during
a scheduled run, a backfill beside the live schedule). Whoever takes the lock goes on;
the other waits up to ``wait_seconds``, then fails naming the holder.

* ``file://`` state: ``fcntl.flock`` on ``<state>/.lock``. The kernel drops the lock
  when its process dies, so a killed task never leaves the detector locked.
* ``s3://`` state: a lease object ``<state>/.lock.json`` created with a conditional
  PUT (``If-None-Match: *``), renewed and released with ``If-Match`` on its ETag, so
  two writers can never both believe they hold it. A lease not renewed within
  ``lease_seconds`` (its holder died) is taken over, again with ``If-Match``.
  Object stores offer no flock; ObjectStoragePath has no conditional writes, so this
  uses the amazon provider's S3 client directly.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

LOCK_FILE = ".lock"
LEASE_OBJECT = ".lock.json"


class DetectorBusy(RuntimeError):
    """Another run holds the detector's lock (and kept it past the wait)."""


class LockLost(RuntimeError):
    """The lease expired and another run took it: this run must not write state."""


def default_owner() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class _FileLock:
    """``flock`` on a local file; released by the kernel if the process dies."""

    def __init__(self, folder: Path, owner: str):
        self.path = Path(folder) / LOCK_FILE
        self.owner = owner
        self.handle = None

    def try_acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")    # noqa: SIM115 - kept open while the lock is held
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"Owner": self.owner, "Since": _now().isoformat()}))
        handle.flush()
        self.handle = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text() or "unknown"
        except OSError:
            return "unknown"

    def renew(self) -> None:
        """A flock cannot expire: nothing to renew."""

    def release(self) -> None:
        import fcntl

        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class _S3Lease:
    """A lease object written with S3 conditional requests."""

    def __init__(self, url: str, owner: str, conn_id: str | None, lease_seconds: int):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        parsed = urlparse(url.rstrip("/") + "/" + LEASE_OBJECT)
        self.bucket, self.key = parsed.netloc, parsed.path.lstrip("/")
        self.client = S3Hook(aws_conn_id=conn_id).get_conn()
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.etag: str | None = None

    def _body(self) -> bytes:
        expires = _now() + dt.timedelta(seconds=self.lease_seconds)
        return json.dumps({"Owner": self.owner, "Expires": expires.isoformat()}).encode()

    def _put(self, **condition) -> bool:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                           Body=self._body(), **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                             "ConditionalRequestConflict"):
                return False
            raise
        self.etag = reply["ETag"]
        return True

    def _current(self) -> tuple[dict, str] | None:
        from botocore.exceptions import ClientError

        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise
        return json.loads(reply["Body"].read()), reply["ETag"]

    def try_acquire(self) -> bool:
        if self._put(IfNoneMatch="*"):
            return True
        current = self._current()
        if current is None:
            return self._put(IfNoneMatch="*")
        lease, etag = current
        if dt.datetime.fromisoformat(lease["Expires"]) < _now():   # its holder died
            return self._put(IfMatch=etag)
        return False

    def holder(self) -> str:
        current = self._current()
        return json.dumps(current[0]) if current else "nobody (released)"

    def renew(self) -> None:
        if not self._put(IfMatch=self.etag):
            raise LockLost(f"s3://{self.bucket}/{self.key}: the lease expired and another "
                           "run took it; this run stops before writing state")

    def release(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except ClientError as exc:   # taken over after expiry: not ours to delete any more
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed",
                                                                 "NoSuchKey", "404"):
                raise


class DetectorLock:
    """Context manager holding a detector's lock; reentrant within one hook.

    :param state_url: the detector's state root (``file://`` or ``s3://``).
    :param owner: who holds it, shown to a run that has to wait.
    :param wait_seconds: how long to wait for another holder before failing.
    """

    def __init__(self, state_url: str, *, owner: str | None = None,
                 conn_id: str | None = None, wait_seconds: float = 600,
                 poll_seconds: float = 2, lease_seconds: int = 900):
        owner = owner or default_owner()
        if state_url.startswith("s3://"):
            self._lock = _S3Lease(state_url, owner, conn_id, lease_seconds)
        else:
            from l4m.io.storage import local, open_path

            self._lock = _FileLock(local(open_path(state_url)), owner)
        self.state_url = state_url
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.depth = 0

    def __enter__(self):
        if self.depth == 0:
            deadline = time.monotonic() + self.wait_seconds
            while not self._lock.try_acquire():
                if time.monotonic() >= deadline:
                    raise DetectorBusy(
                        f"detector state {self.state_url} is locked by another run "
                        f"({self._lock.holder()}); waited {self.wait_seconds:.0f} s")
                time.sleep(self.poll_seconds)
        self.depth += 1
        return self

    def renew(self) -> None:
        """Check the lock is still ours (and extend a lease) before a state write."""
        self._lock.renew()

    def __exit__(self, *exc) -> None:
        self.depth -= 1
        if self.depth == 0:
            self._lock.release()
