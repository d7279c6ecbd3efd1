"""A small activated detector that can be cloned, and runs of ``detector_child.py``."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from l4m.hooks.detector import DetectorHook
from l4m.synth import write_dataset

CHILD = Path(__file__).with_name("detector_child.py")
START = "2021-01-09T00:00:00Z"      # synth starts 2021-01-01: 8 days of history


def make_dataset(root: Path) -> Path:
    write_dataset(root, seed=5, days=10, patterns="easy")
    return root / "ecommerce"


def definition(dataset: Path, home: Path) -> Path:
    """A definition whose results and state live under ``home``."""
    doc = json.loads((dataset / "definition.json").read_text())
    doc["Storage"] = {"ResultsPath": f"file://{home}/results", "StatePath": f"file://{home}/state"}
    doc["Schedule"] = {"StartDate": START, "Catchup": True}
    home.mkdir(parents=True, exist_ok=True)
    path = home / "definition.json"
    path.write_text(json.dumps(doc))
    return path


def activated(dataset: Path, home: Path) -> Path:
    path = definition(dataset, home)
    hook = DetectorHook.from_file(str(path))
    hook.create_detector()
    hook.activate_detector()
    return path


def clone(base: Path, dataset: Path, home: Path) -> Path:
    """A copy of ``base``'s results and state under ``home``, with its own definition."""
    for folder in ("results", "state"):
        if (base / folder).exists():
            shutil.copytree(base / folder, home / folder)
    return definition(dataset, home)


def run_child(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHILD), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def result(done) -> dict:
    """The JSON a finished child printed on its RESULT line."""
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result (exit {done.returncode}):\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
    return json.loads(lines[-1][len("RESULT "):])


def start_child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(CHILD), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def visible(home: Path) -> dict[str, bytes]:
    """What readers (catalog, crawler, dashboard) see: files not starting with a dot."""
    return {str(p.relative_to(home)): p.read_bytes()
            for folder in ("results", "state") for p in (home / folder).rglob("*")
            if p.is_file() and not p.name.startswith(".")}
