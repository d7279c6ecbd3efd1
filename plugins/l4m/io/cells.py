"""Spreadsheet-safe text cells for the CSV files people open (results, quarantine, scores).

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula
(``=HYPERLINK(...)``, DDE payloads), and some also strip a leading tab or carriage
return first. :func:`safe_cell` puts a ``'`` in front of such a text cell, unless it
is a plain number (``-1.5`` stays as it is: a spreadsheet reads a number, not a formula),
and in front of a cell that already starts with ``'``, so the rule can be undone:
:func:`restore_cell` removes one leading ``'``. Only text cells go through it, never
number columns. Standard library only.
"""
from __future__ import annotations

import re

__all__ = ["restore_cell", "restore_sql", "safe_cell"]

PREFIX = "'"
_RISKY = ("=", "+", "-", "@", "\t", "\r", PREFIX)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def safe_cell(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet could run it as a formula."""
    if text.startswith(_RISKY) and not _NUMBER.fullmatch(text):
        return PREFIX + text
    return text


def restore_cell(text: str) -> str:
    """The value :func:`safe_cell` was given."""
    return text[1:] if text.startswith(PREFIX) else text


def restore_sql(expression: str) -> str:
    """:func:`restore_cell` as SQL that DuckDB and Athena (Trino) both run."""
    return (f"CASE WHEN substr({expression}, 1, 1) = '''' "
            f"THEN substr({expression}, 2) ELSE {expression} END")
