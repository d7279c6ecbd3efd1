"""Keep ``anomalyGroups.jsonl`` up to date without re-reading every interval's group file.

``anomalyGroups.jsonl`` holds the last state of every anomaly group (from the newest
``anomalyGroups/<stamp>_anomalyGroups.jsonl`` naming it), ordered by start time and
measure. Rebuilding it from every group file costs one read per interval ever
detected, and the scheduled run would pay that every interval. Instead, next to it,
``_anomalyGroups.index.json`` (a ``_`` name, which Glue, Athena, the catalog's DuckDB
globs and input listings skip, as they skip ``_SUCCESS``) records what it was built from:

* line 1: ``format`` (2); ``files``, how many group files (in name order) it covers;
  ``last``, the newest of them, and ``last_sha1`` its SHA-1; ``names``, the SHA-1 of
  the covered names; ``size``, the size of ``anomalyGroups.jsonl``; ``written_from``,
  where the part written last starts, and ``written_sha1`` that part's SHA-1;
* line 2: ``[id, StartTime, PrimaryMetricName, bytes]`` of each line of
  ``anomalyGroups.jsonl``.

When the index matches storage (the covered names are still the first ones, the newest
covered file still has its recorded bytes, the consolidated file its recorded size and
the recorded SHA-1 of the part written last), only the group files after the covered
ones are read and merged in; when nothing was added, nothing is written. Otherwise, or
with ``rebuild``, every file is read. The bytes are the same either way.

Lines are ordered by start time and a group's start never changes, so every line
before the first one an update touches stays as it is. Only the lines from there on
are read, merged and written; the unchanged part is copied byte for byte (in the
kernel for local files, ``os.copy_file_range``), so an interval's cost depends on the
recent groups, not on the length of the history. The newest covered file is checked
because a retried interval rewrites it; older group files are only rewritten by batch
writers (replay and backtest into an existing folder), which pass ``rebuild``.
"""
from __future__ import annotations

import hashlib
import json

from . import storage
from .storage import write_bytes

INDEX_NAME = "_anomalyGroups.index.json"
FORMAT = 2


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _names_sha1(covered: list[str]) -> str:
    return _sha1("\n".join(covered).encode("utf-8", "surrogatepass"))


def _key(group: dict) -> tuple[str, str]:
    head = group["AnomalyGroup"]
    return head["StartTime"], head["PrimaryMetricName"]


def _read_from(path, offset: int) -> bytes:
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read()


def _cached(folder, files: list[str], out, index_path) -> tuple[list, int] | None:
    """([id, start, metric, bytes] per line of the consolidated file, files covered), or
    None when the index is missing or does not match what is on storage."""
    if not index_path.exists() or not out.exists():
        return None
    try:
        header_line, lines_line = index_path.read_bytes().split(b"\n")[:2]
        header, lines = json.loads(header_line), json.loads(lines_line)
        covered = header["files"]
        if header["format"] != FORMAT or not 0 <= covered <= len(files) \
                or header["last"] != (files[covered - 1] if covered else None) \
                or header["names"] != _names_sha1(files[:covered]) \
                or sum(n for *_, n in lines) != header["size"] \
                or len({line[0] for line in lines}) != len(lines):
            return None
        if covered and _sha1((folder / files[covered - 1]).read_bytes()) != header["last_sha1"]:
            return None
        if out.stat().st_size != header["size"] \
                or _sha1(_read_from(out, header["written_from"])) != header["written_sha1"]:
            return None
    except (ValueError, TypeError, KeyError, AttributeError, OSError):
        return None
    return lines, covered


def consolidate(folder, files: list[str], out, *, rebuild: bool = False):
    """Write ``out`` from the group files ``files`` (names in ``folder``, sorted; a line per
    group, the newest file naming a group wins) and its index; return ``out``."""
    index_path = out.parent / INDEX_NAME
    cached = None if rebuild else _cached(folder, files, out, index_path)
    if cached is not None and cached[1] == len(files):
        return out                                  # nothing new: already up to date
    lines, covered = cached if cached is not None else ([], 0)
    new: dict[str, tuple[tuple[str, str], str]] = {}
    last_bytes = b""
    for name in files[covered:]:
        last_bytes = (folder / name).read_bytes()
        for text in last_bytes.decode("utf-8").splitlines():
            group = json.loads(text)
            new[group["AnomalyGroup"]["AnomalyGroupId"]] = (
                _key(group), json.dumps(group, sort_keys=True) + "\n")
    # Keep every line before the first one at or after the earliest changed key.
    earliest = min((key for key, _ in new.values()), default=None)
    keep = next((i for i, (gid, start, metric, _) in enumerate(lines)
                 if gid in new or (earliest is not None and (start, metric) >= earliest)),
                len(lines))
    prefix = sum(n for *_, n in lines[:keep])
    old_tail = _read_from(out, prefix).decode("utf-8").splitlines(keepends=True) \
        if keep < len(lines) else []
    entries = {gid: ((start, metric), text)
               for (gid, start, metric, _), text in zip(lines[keep:], old_tail, strict=True)}
    entries.update(new)
    ordered = sorted(entries.items(), key=lambda item: item[1][0])   # stable: ties keep order
    tail = "".join(text for _, (_, text) in ordered).encode()
    storage.write_keeping_prefix(out, prefix, tail)
    kept = lines[:keep] + [[gid, *key, len(text.encode())] for gid, (key, text) in ordered]
    header = {"format": FORMAT, "files": len(files), "last": files[-1] if files else None,
              "last_sha1": _sha1(last_bytes) if files else None,
              "names": _names_sha1(files), "size": prefix + len(tail),
              "written_from": prefix, "written_sha1": _sha1(tail)}
    write_bytes(index_path, (json.dumps(header, sort_keys=True) + "\n"
                             + json.dumps(kept) + "\n").encode())
    return out
