"""Which detector definitions of a folder can get DAGs, and why the others cannot.

No Airflow here: the DAG factory and the MWAA bundle build apply the same checks, so a
definition that would get no DAGs on MWAA fails the build first.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from l4m.spec import DetectorSpec, SpecError, parse_spec_json


def definition_files(folder: str | os.PathLike) -> list[Path]:
    """The ``*.json`` definition files of ``folder``, sorted (none if it does not exist)."""
    path = Path(folder)
    return sorted(p for p in path.glob("*.json") if p.is_file()) if path.is_dir() else []


def usable_definitions(
        paths: list[Path],
        check: Callable[[Path, DetectorSpec], str | None] | None = None,
) -> tuple[list[tuple[Path, DetectorSpec]], list[str]]:
    """([(path, spec)] of the definitions that can get DAGs, [one error line per other file]).

    A file cannot when it is not UTF-8, unreadable or invalid, has no
    ``TemplatedPathList`` (the detect DAG reads each interval from it), fails ``check``
    (an error line, or None), or names the same detector as another file: all such files
    are refused, as they would share the detector's DAGs and state.
    """
    loaded, errors = [], []
    for path in paths:
        try:
            spec = parse_spec_json(path.read_text(encoding="utf-8"), source=str(path))
        except UnicodeDecodeError as exc:
            errors.append(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})")
            continue
        except (SpecError, OSError) as exc:
            errors.append(_naming(path, exc))
            continue
        if not spec.templated_paths:
            errors.append(f"{path}: MetricSet.MetricSource.S3SourceConfig.TemplatedPathList: "
                          "required for the DAGs (the detect DAG reads each interval from it); "
                          "without it a definition serves `l4m backtest` and `l4m replay` only")
            continue
        problem = check(path, spec) if check is not None else None
        if problem:
            errors.append(problem)
            continue
        loaded.append((path, spec))
    by_name: dict[str, list[Path]] = {}
    for path, spec in loaded:
        by_name.setdefault(spec.name, []).append(path)
    shared = {name: files for name, files in by_name.items() if len(files) > 1}
    for name, files in shared.items():
        for path in files:
            others = ", ".join(str(p) for p in files if p != path)
            errors.append(f"{path}: AnomalyDetectorName: {name!r} is also the name in "
                          f"{others}; give each detector its own name")
    return [(path, spec) for path, spec in loaded if spec.name not in shared], errors


def _naming(path: Path, exc: Exception) -> str:
    """``path: message``, without naming the path twice when the message starts with it."""
    text = str(exc)
    return text if text.startswith(f"{path}: ") else f"{path}: {text}"
