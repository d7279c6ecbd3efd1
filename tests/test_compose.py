"""docker-compose.yaml and the Dockerfile, checked as files (Docker cannot run here).

What runs them is ``test_scheduler.py``: it starts these very services' commands.
"""
from __future__ import annotations

import re
from importlib.metadata import version

import compose_stack as stack
import pytest

AIRFLOW_IMAGE_SERVICES = {stack.INIT, *stack.SERVERS}


@pytest.fixture(scope="module")
def compose():
    return stack.load({})


def makefile_airflow_pin() -> str:
    text = (stack.REPO / "Makefile").read_text()
    return re.search(r"^AF3_SPEC \?= apache-airflow==(\S+)$", text, re.MULTILINE).group(1)


def test_the_file_has_the_official_shape_on_local_executor(compose):
    assert set(compose["services"]) == {"postgres", *AIRFLOW_IMAGE_SERVICES}
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith(
        "http://airflow-apiserver:8080/")
    assert env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] == "true"
    for name in AIRFLOW_IMAGE_SERVICES:
        assert compose["services"][name]["environment"] == env, name
    for name in stack.SERVERS:
        service = compose["services"][name]
        assert service["healthcheck"]["test"], name
        assert service["depends_on"][stack.INIT]["condition"] == \
            "service_completed_successfully", name
    assert compose["services"]["postgres"]["healthcheck"]["test"]


def test_the_scheduler_test_runs_every_airflow_service_with_its_commands(compose):
    hosts = stack.HostMap(paths={})
    argv = {name: stack.service(compose, name, hosts).argv for name in stack.SERVERS}
    assert argv == {"airflow-apiserver": ["airflow", "api-server"],
                    "airflow-scheduler": ["airflow", "scheduler"],
                    "airflow-dag-processor": ["airflow", "dag-processor"],
                    "airflow-triggerer": ["airflow", "triggerer"]}
    init = stack.service(compose, stack.INIT, hosts).argv
    assert init[:2] == ["/bin/bash", "-c"]
    for step in ("airflow db migrate", "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
                 "l4m tutorial --data /opt/airflow/data"):
        assert step in init[2], step
    # the image's services are exactly the ones test_scheduler.py starts
    uses_image = {name for name, s in compose["services"].items() if "build" in s}
    assert uses_image == AIRFLOW_IMAGE_SERVICES


def test_every_bind_mount_exists_in_the_repo_and_volumes_are_declared(compose):
    for name, service in compose["services"].items():
        for entry in service.get("volumes", []):
            source = entry.split(":")[0]
            if source.startswith("."):
                assert (stack.REPO / source).is_dir(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name}: undeclared volume {source}"
    data = stack.mounts(compose, "airflow-scheduler")["/opt/airflow/data"]
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["L4M_DETECTORS_DIR"].startswith("/opt/airflow/data/")
    assert (stack.REPO / "data" / ".gitignore").exists() and data.endswith("/data")


def test_image_is_the_tested_airflow_version(compose):
    tested = version("apache-airflow")
    assert makefile_airflow_pin() == tested
    common = compose["services"]["airflow-scheduler"]
    assert common["build"]["args"]["AIRFLOW_VERSION"] == tested
    assert common["image"].endswith(f":{tested}")
    dockerfile = (stack.REPO / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={tested}\n" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python3.11" in dockerfile
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in dockerfile   # pip may not change it


def test_variables_are_substituted_as_compose_does():
    assert stack.interpolate("${A:-x} ${B} $${HOSTNAME}", {}) == "x  ${HOSTNAME}"
    assert stack.interpolate("${A:-x}", {"A": "set"}) == "set"
    assert stack.interpolate("${A:-x}", {"A": ""}) == "x"
    secret = stack.load({"AIRFLOW_JWT_SECRET": "s3cret"})["services"]["airflow-triggerer"]
    assert secret["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] == "s3cret"
    assert secret["user"] == "50000:0"


def test_host_map_moves_container_paths_and_addresses_only():
    hosts = stack.HostMap(paths={"/opt/airflow": "/tmp/h", "/opt/airflow/data": "/tmp/d"},
                          addresses={"postgres:5432": "127.0.0.1:6000"})
    assert hosts.apply("l4m tutorial --data /opt/airflow/data") == "l4m tutorial --data /tmp/d"
    assert hosts.apply("/opt/airflow/auth/p.json") == "/tmp/h/auth/p.json"
    assert hosts.apply("/opt/airflowx") == "/opt/airflowx"
    assert hosts.apply("postgresql://a:b@postgres:5432/airflow") == \
        "postgresql://a:b@127.0.0.1:6000/airflow"
