"""docker-compose.yaml read as data: the services' commands, environment and mounts.

Docker cannot run on the build machines, so ``tests/test_scheduler.py`` starts the
compose file's Airflow commands as local processes. This module is the one place that
turns a service of the compose file into a command line and an environment; the only
changes are the mapping of container paths, service hosts and ports to the test
machine (:class:`HostMap`), nothing else.
"""
from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yaml"
INIT = "airflow-init"
SERVERS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
           "airflow-triggerer")
# What the official Airflow image sets that the compose file relies on.
IMAGE_HOME = "/opt/airflow"
IMAGE_ENTRYPOINT = ["airflow"]   # the image's entrypoint runs `airflow <command>`

_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's variable substitution, the forms this file uses: ``${V:-d}``, ``${V}``, ``$$``."""
    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group("name"), match.group("default")
        got = environ.get(name, "")
        return got if got or default is None else default

    return _VARIABLE.sub(value, text)


def load(environ: dict[str, str] | None = None) -> dict:
    """The compose file with its variables substituted from ``environ`` (default: none)."""
    raw = COMPOSE_FILE.read_text(encoding="utf-8")
    return yaml.safe_load(interpolate(raw, environ or {}))


@dataclass
class HostMap:
    """Container paths, service addresses and ports as the test machine sees them."""

    paths: dict[str, str]                  # container path -> local path
    addresses: dict[str, str] = field(default_factory=dict)   # "host:port" -> "host:port"

    def apply(self, text: str) -> str:
        for old in sorted(self.addresses, key=len, reverse=True):
            text = text.replace(old, self.addresses[old])
        for old in sorted(self.paths, key=len, reverse=True):
            text = re.sub(re.escape(old) + r"(?![\w.-])",
                          lambda _match, new=self.paths[old]: new, text)
        return text


@dataclass
class Service:
    """One compose service, ready to run locally."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    healthcheck: list[str] | None


def mounts(compose: dict, name: str) -> dict[str, str]:
    """Container path -> source (a repo path for bind mounts, the volume name otherwise)."""
    found = {}
    for entry in compose["services"][name].get("volumes", []):
        source, target = entry.split(":")[:2]
        found[target] = str((REPO / source).resolve()) if source.startswith(".") else source
    return found


def _as_list(value) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def service(compose: dict, name: str, hosts: HostMap) -> Service:
    """``name``'s command line (entrypoint + command) and environment, mapped by ``hosts``."""
    spec = compose["services"][name]
    entrypoint = _as_list(spec["entrypoint"]) if "entrypoint" in spec else IMAGE_ENTRYPOINT
    argv = [hosts.apply(part) for part in entrypoint + _as_list(spec.get("command", []))]
    environment = {key: hosts.apply(str(value))
                   for key, value in spec.get("environment", {}).items()}
    test = spec.get("healthcheck", {}).get("test")
    health = None
    if test:
        kind, *rest = test
        health = ["/bin/sh", "-c", rest[0]] if kind == "CMD-SHELL" else rest
        health = [hosts.apply(part) for part in health]
    return Service(name, argv, environment, health)


def local_environment(svc: Service, hosts: HostMap, extra: dict[str, str]) -> dict[str, str]:
    """``svc``'s environment for a local process: this process's own (PATH, Python) without
    Airflow or L4M settings, the image's defaults mapped by ``hosts``, the service's, ``extra``.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "L4M_"))}
    env.update(AIRFLOW_HOME=hosts.apply(IMAGE_HOME),
               AIRFLOW__CORE__DAGS_FOLDER=hosts.apply(f"{IMAGE_HOME}/dags"),
               AIRFLOW__LOGGING__BASE_LOG_FOLDER=hosts.apply(f"{IMAGE_HOME}/logs"))
    env.update(svc.environment)
    env.update(extra)
    return env
