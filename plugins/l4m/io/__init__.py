"""Input and output of interval files.

``from l4m.io import read_records`` works, but importing ``l4m.io`` itself stays cheap:
the reader (pandas, numpy) is only loaded when one of its names is first used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from l4m.io.quarantine import QuarantinedRow, write_quarantine_csv

if TYPE_CHECKING:
    from l4m.io.reader import (
        DataQuality,
        InputError,
        ReadResult,
        list_input_files,
        read_records,
    )

__all__ = [
    "DataQuality",
    "InputError",
    "QuarantinedRow",
    "ReadResult",
    "list_input_files",
    "read_records",
    "write_quarantine_csv",
]

_READER_NAMES = {"DataQuality", "InputError", "ReadResult", "list_input_files", "read_records"}


def __getattr__(name: str) -> Any:
    if name in _READER_NAMES:
        from l4m.io import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
