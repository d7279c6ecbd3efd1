"""Quarantined input rows: the record of what was rejected, where, and why.

This module imports neither pandas nor numpy, so the report can be written or read from
light-weight code (operators, the CLI) without loading the numerics stack.
"""
from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass

from l4m.io.cells import safe_cell

__all__ = ["QUARANTINE_COLUMNS", "QuarantinedRow", "printable", "write_quarantine_csv"]

#: Column order of the quarantine report written by :func:`write_quarantine_csv`.
QUARANTINE_COLUMNS = ("file", "row", "field", "reason", "value")

#: Longest value (in characters, after escaping) kept in a quarantine row.
MAX_VALUE_CHARS = 200

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True)
class QuarantinedRow:
    """One problem found in one field of one input row.

    ``row`` is the 1-based line number in the file (a CSV header is line 1; for JSON
    Lines the line of the object). ``field`` is the column as named in the file, or
    ``"<row>"`` (CSV row with the wrong number of fields) / ``"<line>"`` (JSON line that
    is not an object). ``value`` is the offending raw value, escaped to printable
    characters and truncated to :data:`MAX_VALUE_CHARS`.
    """

    file: str
    row: int
    field: str
    reason: str
    value: str


def printable(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """Return ``value`` as a printable, single-line string of at most ``limit`` characters.

    Non-printable characters are escaped (``\\n``, ``\\x00``, ``\\u202e``...); bytes that
    could not be decoded (lone surrogates from ``errors="surrogateescape"``) are shown as
    the original byte, ``\\xe9``. A truncated value ends with ``…``.
    """
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit and text.isprintable():
        return text
    out: list[str] = []
    size = 0
    for ch in text:
        if ch.isprintable():
            piece = ch
        elif ch in _ESCAPES:
            piece = _ESCAPES[ch]
        else:
            code = ord(ch)
            if 0xDC80 <= code <= 0xDCFF:  # undecodable byte kept by surrogateescape
                piece = f"\\x{code - 0xDC00:02x}"
            elif code < 0x100:
                piece = f"\\x{code:02x}"
            elif code < 0x10000:
                piece = f"\\u{code:04x}"
            else:
                piece = f"\\U{code:08x}"
        out.append(piece)
        size += len(piece)
        if size > limit:
            break
    result = "".join(out)
    if size > limit:
        result = result[: limit - 1] + "…"
    return result


def _local_path(path: str | os.PathLike) -> str:
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.startswith("file://"):
        text = text[len("file://"):]
        if text.startswith("localhost/"):
            text = text[len("localhost"):]
    return text


def write_quarantine_csv(rows: list[QuarantinedRow], path: str | os.PathLike) -> None:
    """Write ``rows`` as CSV (``file,row,field,reason,value``) to ``path``, atomically.

    The report is written to a temporary file in the target folder and moved into place
    with :func:`os.replace`, so readers never see a half-written report. Every text cell
    is escaped to printable characters (file names and field names come from outside)
    and made spreadsheet-safe (:func:`l4m.io.cells.safe_cell`).
    """
    target = _local_path(path)
    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(target) + ".", suffix=".tmp"
    )
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o644)  # mkstemp creates 0600; a report is meant to be read
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(QUARANTINE_COLUMNS)
            for row in rows:
                writer.writerow(
                    (
                        safe_cell(printable(row.file, limit=4096)),
                        int(row.row),
                        safe_cell(printable(row.field)),
                        safe_cell(printable(row.reason, limit=1024)),
                        safe_cell(printable(row.value)),
                    )
                )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
