"""Keep ``anomalyGroups.jsonl`` up to date without re-reading every interval's group file.

``anomalyGroups.jsonl`` holds the last state of every anomaly group (from the newest
``anomalyGroups/<stamp>_anomalyGroups.jsonl`` naming it), ordered by start time and
measure. Rebuilding it from every group file costs one read per interval ever
detected, and the scheduled run would pay that every interval. Instead, next to it,
``_anomalyGroups.index.json`` (a ``_`` name, which Glue, Athena, the catalog's DuckDB
globs and input listings skip, as they skip ``_SUCCESS``) records what it was built from:

* line 1: ``format``; ``files``, how many group files (in name order) it covers;
  ``last``, the newest of them, and ``last_sha1`` its SHA-1; ``names``, the SHA-1 of
  the covered names; ``sha1``, the SHA-1 of ``anomalyGroups.jsonl``;
* line 2: ``[id, StartTime, PrimaryMetricName]`` of each line of ``anomalyGroups.jsonl``.

When the index matches storage (the covered names are still the first ones, the newest
covered file and the consolidated file still have their recorded bytes), only the
group files after the covered ones are read and merged in; when nothing was added,
nothing is written. Otherwise, or with ``rebuild``, every file is read. The bytes are
the same either way. The newest covered file is checked because a retried interval
rewrites it; older group files are only rewritten by batch writers (replay and
backtest into an existing folder), which pass ``rebuild``.
"""
from __future__ import annotations

import hashlib
import json

from .storage import write_bytes

INDEX_NAME = "_anomalyGroups.index.json"
FORMAT = 1


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _names_sha1(covered: list[str]) -> str:
    return _sha1("\n".join(covered).encode("utf-8", "surrogatepass"))


def _key(group: dict) -> tuple[str, str]:
    head = group["AnomalyGroup"]
    return head["StartTime"], head["PrimaryMetricName"]


def _cached(folder, files: list[str], out, index_path) -> tuple[dict, int] | None:
    """(id → (key, line) in the consolidated file's order, files covered), or None when
    the index is missing or does not match what is on storage."""
    if not index_path.exists() or not out.exists():
        return None
    try:
        header_line, groups_line = index_path.read_bytes().split(b"\n")[:2]
        header, groups = json.loads(header_line), json.loads(groups_line)
        covered = header["files"]
        if header["format"] != FORMAT or not 0 <= covered <= len(files) \
                or header["last"] != (files[covered - 1] if covered else None) \
                or header["names"] != _names_sha1(files[:covered]):
            return None
        if covered and _sha1((folder / files[covered - 1]).read_bytes()) != header["last_sha1"]:
            return None
        data = out.read_bytes()
        if _sha1(data) != header["sha1"]:
            return None
        lines = data.split(b"\n")[:-1] if data else []
        if len(lines) != len(groups):
            return None
        entries = {gid: ((start, metric), line.decode("ascii") + "\n")
                   for (gid, start, metric), line in zip(groups, lines)}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return (entries, covered) if len(entries) == len(groups) else None


def consolidate(folder, files: list[str], out, *, rebuild: bool = False):
    """Write ``out`` from the group files ``files`` (names in ``folder``, sorted; a line per
    group, the newest file naming a group wins) and its index; return ``out``."""
    index_path = out.parent / INDEX_NAME
    cached = None if rebuild else _cached(folder, files, out, index_path)
    if cached is not None and cached[1] == len(files):
        return out                                  # nothing new: already up to date
    entries, covered = cached if cached is not None else ({}, 0)
    last_bytes = b""
    for name in files[covered:]:
        last_bytes = (folder / name).read_bytes()
        for line in last_bytes.decode("utf-8").splitlines():
            group = json.loads(line)
            entries[group["AnomalyGroup"]["AnomalyGroupId"]] = (
                _key(group), json.dumps(group, sort_keys=True) + "\n")
    ordered = sorted(entries.items(), key=lambda item: item[1][0])   # stable: ties keep order
    data = "".join(line for _, (_, line) in ordered).encode()
    write_bytes(out, data)
    header = {"format": FORMAT, "files": len(files), "last": files[-1] if files else None,
              "last_sha1": _sha1(last_bytes) if files else None,
              "names": _names_sha1(files), "sha1": _sha1(data)}
    groups = [[gid, *key] for gid, (key, _) in ordered]
    write_bytes(index_path, (json.dumps(header, sort_keys=True) + "\n"
                             + json.dumps(groups) + "\n").encode())
    return out
