"""The Amazon MWAA bundle: ``plugins.zip``, ``requirements.txt`` and ``dags/`` for one
MWAA Airflow version (see docs/mwaa.md).

MWAA installs Airflow and the amazon provider itself. ``plugins.zip`` carries the l4m
package, which MWAA unpacks into its plugins folder, and Airflow puts that folder on
``sys.path``. ``requirements.txt`` adds only what l4m needs beyond the image, under the
Airflow constraints of the version. No startup script is needed.

``python -m l4m.mwaa --out dist/mwaa --airflow-version 3.0.6 --dags dags``
"""
from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

import l4m
from l4m.definitions import definition_files, usable_definitions
from l4m.locations import resolve
from l4m.spec import DetectorSpec

# MWAA's Apache Airflow version -> its Python (MWAA user guide, "Apache Airflow versions").
TARGETS = {"2.11.0": "3.12", "3.0.6": "3.12"}
DEFAULT_TARGET = "3.0.6"
CONSTRAINTS_URL = ("https://raw.githubusercontent.com/apache/airflow/"
                   "constraints-{airflow}/constraints-{python}.txt")

# What l4m needs beyond MWAA's image (Airflow, the amazon provider and their dependencies),
# with the ranges of pyproject.toml. s3fs is the amazon provider's s3fs extra: it backs
# ObjectStoragePath on s3://; MWAA installs that provider without it.
REQUIREMENTS = ("duckdb>=1.1,<3", "numpy>=1.26,<3", "pandas>=2.1,<4", "plotly>=5.22,<8",
                "s3fs>=2023.10.0")

PLUGINS_DIR = Path(l4m.__file__).resolve().parent.parent
ENTRY_FILE = "l4m_plugin.py"
IGNORE_FILE = ".airflowignore"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: rebuilds give the same bytes
MWAA_HOME = "/usr/local/airflow"


def constraints_url(airflow_version: str) -> str:
    """The Airflow constraints file MWAA installs ``airflow_version`` with."""
    if airflow_version not in TARGETS:
        raise ValueError(f"unsupported MWAA Airflow version {airflow_version!r}; "
                         f"supported: {', '.join(TARGETS)}")
    return CONSTRAINTS_URL.format(airflow=airflow_version, python=TARGETS[airflow_version])


def requirements_txt(airflow_version: str) -> str:
    """``requirements.txt`` for MWAA ``airflow_version``: its constraints, then ours."""
    url = constraints_url(airflow_version)
    return (f"# l4m on Amazon MWAA, Apache Airflow {airflow_version} "
            f"(Python {TARGETS[airflow_version]}); see docs/mwaa.md.\n"
            f'--constraint "{url}"\n' + "".join(f"{r}\n" for r in REQUIREMENTS))


def write_plugins_zip(path: Path, plugins_dir: Path = PLUGINS_DIR) -> None:
    """``l4m/`` (its ``.py`` files, as in the wheel), the plugin entry file and
    ``.airflowignore`` of ``plugins_dir``, sorted, with fixed timestamps and modes."""
    members = [plugins_dir / ENTRY_FILE, plugins_dir / IGNORE_FILE,
               *(plugins_dir / "l4m").rglob("*.py")]
    with zipfile.ZipFile(path, "w") as bundle:
        for name in sorted(p.relative_to(plugins_dir).as_posix() for p in members):
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.create_system = 3  # Unix, so the mode below is honoured
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(info, (plugins_dir / name).read_bytes())


def _off_s3(spec: DetectorSpec) -> list[str]:
    """The input, results and state locations of a definition that are not on S3."""
    where = resolve(spec, environ={"AIRFLOW_HOME": MWAA_HOME})
    urls = (*spec.templated_paths, *spec.historical_paths, where.results, where.state)
    return sorted({u for u in urls if not u.startswith("s3://")})


def build_bundle(out_dir: str | Path, *, airflow_version: str, dags_dir: str | Path,
                 detectors_dir: str | Path | None = None,
                 plugins_dir: Path = PLUGINS_DIR) -> list[str]:
    """Write ``plugins.zip``, ``requirements.txt`` and ``dags/`` (a copy of ``dags_dir``)
    into ``out_dir``, replacing earlier ones.

    ``detectors_dir`` replaces the definitions (``dags/detectors/*.json``). Every
    definition is checked first as the DAG file checks it
    (:func:`l4m.definitions.usable_definitions`): one that would get no DAGs fails the
    build. Returns a warning for each one that keeps data outside S3: MWAA's workers
    share no disk.
    """
    requirements = requirements_txt(airflow_version)
    source = Path(dags_dir) / "detectors" if detectors_dir is None else Path(detectors_dir)
    definitions = definition_files(source)
    if detectors_dir is not None and not definitions:
        raise ValueError(f"no detector definitions (*.json) in {detectors_dir}")
    usable, errors = usable_definitions(definitions)
    if errors:
        raise ValueError(f"{len(errors)} detector definition(s) would get no DAGs:\n"
                         + "\n".join(errors))
    warnings = []
    for path, spec in usable:
        local = _off_s3(spec)
        if local:
            warnings.append(f"{path.name} keeps data outside S3 ({', '.join(local)}), "
                            "which MWAA's workers do not share")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dags = out / "dags"
    shutil.rmtree(dags, ignore_errors=True)
    shutil.copytree(dags_dir, dags, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if detectors_dir is not None:
        shutil.rmtree(dags / "detectors", ignore_errors=True)
        (dags / "detectors").mkdir()
        for path in definitions:
            shutil.copy2(path, dags / "detectors" / path.name)
    (out / "requirements.txt").write_text(requirements, encoding="utf-8")
    write_plugins_zip(out / "plugins.zip", plugins_dir)
    return warnings


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("dist/mwaa"),
                        help="output folder (default dist/mwaa)")
    parser.add_argument("--airflow-version", default=DEFAULT_TARGET,
                        help=f"the environment's Apache Airflow version: {', '.join(TARGETS)} "
                             f"(default {DEFAULT_TARGET})")
    parser.add_argument("--dags", type=Path, default=Path("dags"),
                        help="the DAGs folder to ship (default dags)")
    parser.add_argument("--detectors", type=Path, default=None,
                        help="ship the definitions (*.json) of this folder instead of those "
                             "in DAGS/detectors/")


def add_parser(sub) -> None:
    """The ``mwaa-bundle`` subcommand, on the ``l4m`` command's subparsers."""
    _add_arguments(sub.add_parser("mwaa-bundle", help="build the Amazon MWAA bundle: "
                                                      "plugins.zip, requirements.txt, dags/"))


def run(args: argparse.Namespace) -> int:
    """Build the bundle that ``args`` describe; print the warnings, then what was written."""
    for warning in build_bundle(args.out, airflow_version=args.airflow_version,
                                dags_dir=args.dags, detectors_dir=args.detectors):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{args.out}: plugins.zip, requirements.txt, dags/ for Amazon MWAA "
          f"with Apache Airflow {args.airflow_version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l4m.mwaa",
                                     description="Build the Amazon MWAA bundle of l4m.")
    _add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as exc:  # an unsupported version or an invalid definition
        parser.exit(2, f"{parser.prog}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
