"""Whole-file writes and reads on a local folder or an object store, alike.

Paths are either :class:`pathlib.Path` (the CLI) or Airflow's ``ObjectStoragePath``
(operators and hooks; ``file://`` or ``s3://``). Local writes go through a temporary
file and a rename (:mod:`l4m.io.atomic`); an object store PUT is already atomic, so
remote writes are one ``write_bytes``. Nothing here reads, modifies and writes back.
"""
from __future__ import annotations

from pathlib import Path

from .atomic import write_bytes_atomic

LOCAL_PROTOCOLS = ("file", "local", "")


def local(path) -> Path | None:
    """The local filesystem path behind ``path``, or None for an object store."""
    if isinstance(path, Path) and not hasattr(path, "protocol"):
        return path
    protocol = getattr(path, "protocol", "")
    protocol = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
    if protocol in LOCAL_PROTOCOLS:
        return Path(getattr(path, "path", str(path)))
    return None


def write_bytes(path, data: bytes) -> None:
    """Write ``data`` as the whole content of ``path`` (atomic on both kinds of storage)."""
    on_disk = local(path)
    if on_disk is not None:
        write_bytes_atomic(on_disk, data)
    else:
        path.write_bytes(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def names(folder, pattern: str = "*") -> list[str]:
    """Sorted names of the entries of ``folder`` matching ``pattern`` (none if it is absent)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.glob(pattern) if not p.name.startswith("."))


def open_path(url: str, conn_id: str | None = None):
    """``url`` (a URL, or a local path) as an Airflow ``ObjectStoragePath``; ``s3://``
    through the ``conn_id`` AWS connection."""
    import os

    from l4m.compat import ObjectStoragePath

    if "://" not in str(url):
        url = f"file://{os.path.abspath(url)}"
    if str(url).startswith("s3://"):
        return ObjectStoragePath(url, conn_id=conn_id)
    return ObjectStoragePath(url)


def read_definition(definition: str, conn_id: str | None = None):
    """The validated detector definition (``DetectorSpec``) at a path or URL."""
    from l4m.spec import parse_spec_json

    return parse_spec_json(open_path(definition, conn_id).read_text(encoding="utf-8"),
                           source=str(definition))
