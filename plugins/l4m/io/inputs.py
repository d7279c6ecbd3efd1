"""The input files of one interval: found, made local, fingerprinted and compared.

An interval's fingerprint lists its data files, each with its URL, size and SHA-256.
The detect step records it (``InputFiles`` of the interval's data quality record); a
rerun of a detected interval fingerprints the files there now and, if they differ,
reports what was added, removed or changed (:func:`data_changes`).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .storage import local

# Names that are never data, at any depth (_SUCCESS, .tmp files, hidden folders): the
# interval reader, the data sensor, the fingerprint and the CLI's input listing
# (reader.list_input_files) all skip them.
SKIPPED_PREFIXES = (".", "_")
CHUNK = 1 << 20


class InputChanged(ValueError):
    """An input file changed while it was read: the read is not one version of it."""


@dataclass(frozen=True)
class InputFile:
    """One data file of an interval: ``url`` to report, ``path`` (ObjectStoragePath)."""

    url: str
    path: object


def uncached(path):
    """``path`` with its listing cache dropped: s3fs would keep the first listing forever
    (files may have arrived since)."""
    path.fs.invalidate_cache(path.path)
    return path


def data_files(path, url: str) -> list[InputFile]:
    """The data files at ``path`` (reached as ``url``): the file itself, or every file
    under the folder at any depth, sorted, skipping names in :data:`SKIPPED_PREFIXES`;
    none when ``path`` does not exist or holds no such file."""
    found = uncached(path).fs.find(path.path, detail=True)
    base = path.path.rstrip("/")
    files = []
    for name, info in sorted(found.items()):
        if info.get("type") != "file" or name.endswith("/"):   # an S3 "folder" marker
            continue
        rel = name[len(base):].strip("/")
        if any(part.startswith(SKIPPED_PREFIXES) for part in rel.split("/") if part):
            continue
        if rel:
            files.append(InputFile(f"{url.rstrip('/')}/{rel}", path / rel))
        else:
            files.append(InputFile(url, path))
    return files


def _digest(stream, copy_to=None) -> tuple[int, str]:
    """(size, SHA-256) of ``stream``, copied to the open file ``copy_to`` on the way.

    Not ``hashlib.file_digest``: a remote file is hashed in the pass that copies it."""
    sha, size = hashlib.sha256(), 0
    while block := stream.read(CHUNK):
        sha.update(block)
        size += len(block)
        if copy_to is not None:
            copy_to.write(block)
    return size, sha.hexdigest()


def _entry(url: str, size: int, sha256: str) -> dict:
    return {"Path": url, "Size": size, "Sha256": sha256}


def fingerprint(files: list[InputFile]) -> list[dict]:
    """``[{"Path", "Size", "Sha256"}]`` of ``files`` as they are now."""
    entries = []
    for file in files:
        with file.path.open("rb") as stream:
            entries.append(_entry(file.url, *_digest(stream)))
    return entries


def _stat(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def shown_names(files: list[InputFile]) -> list[str]:
    """How reports name each file: a local file by its path, a remote one by its URL
    (not by the temporary copy :func:`local_inputs` reads)."""
    return [str(on_disk) if (on_disk := local(f.path)) is not None else f.url for f in files]


@contextmanager
def local_inputs(files: list[InputFile], *,
                 fingerprint: bool = True) -> Iterator[tuple[list[str], list[dict]]]:
    """(local paths, fingerprint) of ``files``: local files are read in place, remote
    ones copied to a temporary folder; each is hashed as it is read or copied.
    ``fingerprint=False`` hashes nothing (an empty fingerprint): local files are then
    not read here at all.

    A local file replaced or written to before the ``with`` block ends raises
    :class:`InputChanged`: what was read may mix two versions of it.
    """
    paths, entries, watched = [], [], {}
    with tempfile.TemporaryDirectory(prefix="l4m-input-") as tmp:
        for i, file in enumerate(files):
            on_disk = local(file.path)
            if on_disk is not None:
                watched[on_disk] = (file.url, _stat(on_disk))
                if fingerprint:
                    with open(on_disk, "rb") as stream:
                        entries.append(_entry(file.url, *_digest(stream)))
                paths.append(str(on_disk))
                continue
            target = Path(tmp) / f"{i:06d}_{file.path.name}"
            with file.path.open("rb") as stream, target.open("wb") as out:
                if fingerprint:
                    entries.append(_entry(file.url, *_digest(stream, out)))
                else:
                    shutil.copyfileobj(stream, out, CHUNK)
            paths.append(str(target))
        yield paths, entries
        for on_disk, (url, before) in watched.items():
            if _stat(on_disk) != before:
                raise InputChanged(f"{url}: the file changed while it was read; nothing was "
                                   "written: retry once it is complete")


def data_changes(detected: list[dict], current: list[dict]) -> dict | None:
    """``{"Added", "Removed", "Changed"}`` between two fingerprints, None if they are equal.

    Only paths, sizes and contents count: a file uploaded again with the same bytes (a
    new modification time or ETag) is unchanged.
    """
    old = {f["Path"]: f for f in detected}
    new = {f["Path"]: f for f in current}
    changed = [{"Path": p, "Before": {k: old[p][k] for k in ("Size", "Sha256")},
                "After": {k: new[p][k] for k in ("Size", "Sha256")}}
               for p in sorted(old.keys() & new.keys()) if old[p] != new[p]]
    diff = {"Added": [new[p] for p in sorted(new.keys() - old.keys())],
            "Removed": [old[p] for p in sorted(old.keys() - new.keys())],
            "Changed": changed}
    return diff if any(diff.values()) else None
