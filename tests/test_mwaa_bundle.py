"""The Amazon MWAA bundle: plugins.zip's layout and bytes, requirements.txt, and the DAGs
loading from the unpacked bundle in lean venvs like MWAA's images (`make mwaa-venvs`:
Airflow and the amazon provider at MWAA's pins, l4m not installed)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import zipfile
from importlib.metadata import requires
from pathlib import Path

import pytest
from aws_definitions import aws_definition
from l4m.mwaa import PLUGINS_DIR, REQUIREMENTS, TARGETS, ZIP_TIME, build_bundle
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parent.parent
PINS = REPO / "tests" / "mwaa"
EXPECTED_DAGS = {"l4m_ecommerce_setup", "l4m_ecommerce_detect",
                 "l4m_shop_aws_setup", "l4m_shop_aws_detect"}


def _build(out: Path, version: str = "3.0.6", **kwargs) -> list[str]:
    return build_bundle(out, airflow_version=version, dags_dir=REPO / "dags", **kwargs)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    _build(out)
    return out


def test_plugins_zip_holds_the_package_the_entry_file_and_the_ignore_file(bundle):
    with zipfile.ZipFile(bundle / "plugins.zip") as zf:
        infos = zf.infolist()
    names = [i.filename for i in infos]
    package = sorted(p.relative_to(PLUGINS_DIR).as_posix()
                     for p in (PLUGINS_DIR / "l4m").rglob("*.py"))
    assert names == sorted(names)
    assert set(names) == {"l4m_plugin.py", ".airflowignore", *package}
    assert "l4m/mwaa.py" in names and "l4m/engine/__init__.py" in names
    assert {i.date_time for i in infos} == {ZIP_TIME}
    assert (bundle / "dags" / "l4m_detectors.py").is_file()
    assert (bundle / "dags" / "l4m_definition_errors.py").is_file()
    assert (bundle / "dags" / "detectors" / "ecommerce.json").is_file()


def test_rebuilding_gives_the_same_bytes_and_leaves_out_caches(bundle, tmp_path):
    plugins = tmp_path / "plugins"
    shutil.copytree(PLUGINS_DIR, plugins, ignore=shutil.ignore_patterns("*.egg-info"))
    cache = plugins / "l4m" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "spec.cpython-311.pyc").write_bytes(b"\0")
    (plugins / "airflow_provider_l4m.egg-info").mkdir()
    (plugins / "airflow_provider_l4m.egg-info" / "PKG-INFO").write_text("Name: x\n")
    for path in plugins.rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))  # other mtimes than the repo's
    _build(tmp_path / "again", plugins_dir=plugins)
    again = (tmp_path / "again" / "plugins.zip").read_bytes()
    assert again == (bundle / "plugins.zip").read_bytes()


@pytest.mark.parametrize("version", sorted(TARGETS))
def test_requirements_constrain_to_the_target_and_add_only_what_mwaa_lacks(tmp_path, version):
    _build(tmp_path, version)
    lines = [line for line in (tmp_path / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert lines[0] == ('--constraint "https://raw.githubusercontent.com/apache/airflow/'
                        f'constraints-{version}/constraints-3.12.txt"')
    assert lines[1:] == list(REQUIREMENTS)
    declared = {r.name: r for r in map(Requirement, requires("airflow-provider-l4m"))
                if r.marker is None}  # pyproject.toml's dependencies, without the extras
    for requirement in map(Requirement, REQUIREMENTS):
        assert not requirement.name.startswith("apache-airflow")  # MWAA's own
        if requirement.name in declared:
            assert requirement.specifier == declared[requirement.name].specifier
    assert "s3fs" in declared["apache-airflow-providers-amazon"].extras


def test_unknown_version_names_the_supported_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'2\.10\.3'.*supported: 2\.11\.0, 3\.0\.6"):
        _build(tmp_path, "2.10.3")


def test_detectors_folder_replaces_the_definitions_and_local_data_is_flagged(tmp_path):
    assert ["ecommerce.json"] == [w.split()[0] for w in _build(tmp_path / "tutorial")]
    detectors = tmp_path / "detectors"
    detectors.mkdir()
    (detectors / "shop.json").write_text(json.dumps(aws_definition()))
    assert _build(tmp_path / "aws", detectors_dir=detectors) == []
    assert [p.name for p in (tmp_path / "aws" / "dags" / "detectors").iterdir()] == ["shop.json"]



def test_an_invalid_definition_fails_the_build_before_writing(tmp_path):
    doc = aws_definition()
    doc["MetricSet"]["Offset"] = -1
    (tmp_path / "detectors").mkdir()
    (tmp_path / "detectors" / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"bad\.json: MetricSet\.Offset"):
        _build(tmp_path / "out", detectors_dir=tmp_path / "detectors")
    assert not (tmp_path / "out").exists()


def test_a_definition_the_dag_file_would_refuse_fails_the_build(tmp_path):
    """The build checks what the DAG file checks: no source paths, a name used twice."""
    (tmp_path / "detectors").mkdir()
    for stem in ("first", "second"):
        (tmp_path / "detectors" / f"{stem}.json").write_text(json.dumps(aws_definition()))
    no_source = aws_definition()
    no_source["AnomalyDetectorName"] = "no_source"
    del no_source["MetricSet"]["MetricSource"]
    (tmp_path / "detectors" / "third.json").write_text(json.dumps(no_source))
    with pytest.raises(ValueError, match="3 detector definition") as info:
        _build(tmp_path / "out", detectors_dir=tmp_path / "detectors")
    lines = str(info.value).splitlines()[1:]
    assert [line.split(": ")[1] for line in lines] == [
        "MetricSet.MetricSource.S3SourceConfig.TemplatedPathList",
        "AnomalyDetectorName", "AnomalyDetectorName"]
    assert not (tmp_path / "out").exists()


# Loads the DAGs and the plugins as the scheduler does, inside an MWAA venv; prints JSON.
PROBE = textwrap.dedent("""
    import importlib, importlib.metadata as md, json
    from pathlib import Path
    from airflow import plugins_manager, settings
    from airflow.models.dagbag import DagBag
    from airflow.utils.file import find_path_from_directory

    bag = DagBag(include_examples=False)
    plugins_manager.ensure_plugins_loaded()
    import l4m

    info = l4m.get_provider_info()
    modules = [m for kind in ("operators", "sensors", "hooks", "triggers")
               for entry in info[kind] for m in entry["python-modules"]]
    for module in modules + [n.rpartition(".")[0] for n in info["notifications"]]:
        importlib.import_module(module)
    folder = Path(settings.PLUGINS_FOLDER)
    print(json.dumps({
        "versions": [md.version("apache-airflow"), md.version("apache-airflow-providers-amazon")],
        "dag_ids": sorted(bag.dag_ids),
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
        "plugins": [p.name for p in plugins_manager.plugins],
        "plugin_errors": dict(plugins_manager.import_errors),
        "plugin_files": sorted(Path(p).relative_to(folder).as_posix() for p in
                               find_path_from_directory(folder, ".airflowignore")
                               if p.endswith(".py")),
        "l4m": l4m.__file__,
    }))
""")


def _pinned(version: str, package: str) -> str:
    for line in (PINS / f"pins-{version}.txt").read_text().splitlines():
        if line.startswith(f"{package}=="):
            return line.split("==")[1]
    raise LookupError(package)


@pytest.mark.parametrize("version", sorted(TARGETS))
def test_dags_load_from_the_unpacked_bundle_in_an_mwaa_venv(tmp_path, version):
    python = REPO / f".venv-mwaa-{version}" / "bin" / "python"
    if not python.exists():
        reason = f"no {python.parent.parent.name}: run `make mwaa-venvs`"
        if os.environ.get("L4M_REQUIRE_MWAA_ENVS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    detectors = tmp_path / "detectors"
    detectors.mkdir()
    shutil.copy(REPO / "dags" / "detectors" / "ecommerce.json", detectors)
    (detectors / "shop_aws.json").write_text(json.dumps(aws_definition(
        AnomalyDetectorName="shop_aws")))
    _build(tmp_path / "bundle", version, detectors_dir=detectors)
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    with zipfile.ZipFile(tmp_path / "bundle" / "plugins.zip") as zf:
        zf.extractall(plugins)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path),
           "AIRFLOW_HOME": str(tmp_path / "airflow"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
           "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "bundle" / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, check=False,
                              capture_output=True, text=True, timeout=120)

    alone = run("import l4m")
    assert alone.returncode != 0 and "No module named 'l4m'" in alone.stderr, \
        "l4m is installed in the venv: only plugins.zip may bring it"
    done = run(PROBE)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["versions"] == [version, _pinned(version, "apache-airflow-providers-amazon")]
    assert seen["import_errors"] == {}
    assert EXPECTED_DAGS <= set(seen["dag_ids"])
    assert seen["plugins"] == ["l4m"] and seen["plugin_errors"] == {}
    assert seen["plugin_files"] == ["l4m_plugin.py"]
    assert Path(seen["l4m"]).is_relative_to(plugins)
