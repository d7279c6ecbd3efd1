"""The detect DAG under a real Airflow 3 scheduler, started as docker-compose.yaml does.

The compose file's services run here as local processes (Docker cannot run on the
build machines): ``airflow-init``'s script (migrate, user, ``l4m tutorial``), then
``api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` with the compose
environment (LocalExecutor, deferrable sensors). The database is a PostgreSQL server
from Debian's packages, started for the test (``make test`` installs it); without its
binaries the test uses Airflow's SQLite setup and says so. Only container paths,
service hosts and ports are mapped to this machine (``compose_stack.py``).

The tutorial definition starts 3 hours before now with catch-up, so the scheduler runs
3 intervals at once. The third interval's files are held back: its sensor must defer
to the triggerer, and resume when the test puts the files in place. The test polls the
REST API until the runs succeed, then checks the results on disk. Every process is
stopped by its PID (process group) whatever happens.
"""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import compose_stack as stack
import pytest
from airflow.utils.net import get_hostname
from l4m.compat import AIRFLOW_V3

pytestmark = pytest.mark.skipif(not AIRFLOW_V3, reason="the compose stack is Airflow 3")

DETECT = "l4m_ecommerce_detect"
SENSOR = "wait_for_interval_data"
DEADLINE = 900          # seconds for the whole pipeline once the servers are up
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_binaries() -> Path | None:
    """The bin folder of Debian's PostgreSQL server, if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1 with the compose file's role and database."""

    def __init__(self, bin_dir: Path):
        self.bin = bin_dir
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="l4m-pg-"))
        # initdb refuses root: run the server as Debian's postgres user then.
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.user:
            shutil.chown(self.dir, "postgres")

    def _run(self, *argv: str) -> None:
        subprocess.run([*self.user, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        data = self.dir / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres",
                  "--auth=trust")
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-w", "-l",
                  str(self.dir / "server.log"), "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start")
        for sql in ("CREATE ROLE airflow LOGIN PASSWORD 'airflow'",
                    "CREATE DATABASE airflow OWNER airflow"):
            self._run(str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port),
                      "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        subprocess.run([*self.user, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class Processes:
    """Long-running local processes, each in its own process group, stopped by PID."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        sink = (self.logs / f"{name}.log").open("wb")
        self.running[name] = subprocess.Popen(argv, env=env, stdout=sink,
                                              stderr=subprocess.STDOUT,
                                              start_new_session=True)

    def tail(self, name: str, lines: int = 30) -> str:
        text = (self.logs / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{self.tail(name)}")

    def stop(self) -> None:
        for proc in self.running.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        end = time.monotonic() + 30
        for proc in self.running.values():
            try:
                proc.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


class Api:
    """The REST API (v2) with a token from the simple auth manager's /auth/token."""

    def __init__(self, base: str, username: str, password: str):
        self.base = base
        body = json.dumps({"username": username, "password": password}).encode()
        request = urllib.request.Request(f"{base}/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.token = json.load(response)["access_token"]

    def get(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.base}/api/v2{path}",
                                         headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def wait_for(what: str, check, processes: Processes, timeout: float, every: float = 2.0):
    """Poll ``check`` until it returns a truthy value; fail naming ``what`` at the timeout."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        processes.check_alive()
        try:
            last = check()
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def wait_healthy(svc: stack.Service, env: dict[str, str], processes: Processes,
                 timeout: float = 240) -> None:
    """Run the service's compose health check until it passes, as Docker would."""
    end = time.monotonic() + timeout
    while True:
        processes.check_alive()
        done = subprocess.run(svc.healthcheck, env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        if done.returncode == 0:
            return
        if time.monotonic() > end:
            pytest.fail(f"{svc.name} not healthy after {timeout:.0f}s: {svc.healthcheck} said "
                        f"{done.stdout[-1500:]}{done.stderr[-1500:]}\n{processes.tail(svc.name)}")
        time.sleep(3)


@pytest.fixture
def database():
    """Host and port of a PostgreSQL server for the stack, or None (SQLite)."""
    bin_dir = postgres_binaries()
    if bin_dir is None or (os.geteuid() == 0 and not _has_user("postgres")):
        print("PostgreSQL server binaries not found: the stack runs on SQLite")
        yield None
        return
    server = Postgres(bin_dir)
    try:
        yield server.start()
    finally:
        server.stop()


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def live_folder(data: Path, interval_start: dt.datetime) -> Path:
    """The tutorial's templated path rendered for an interval (UTC detector)."""
    return data / "ecommerce" / "live" / interval_start.strftime("%Y%m%d/%H%M")


def runs_by_start(api: Api) -> dict[dt.datetime, dict]:
    runs = api.get(f"/dags/{DETECT}/dagRuns?limit=100")["dag_runs"]
    return {dt.datetime.fromisoformat(run["data_interval_start"].replace("Z", "+00:00")): run
            for run in runs}


@pytest.fixture
def root():
    """A short folder for the stack's home and data (the tmp_path may be long)."""
    folder = Path(tempfile.mkdtemp(prefix="l4m-stack-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_scheduler_runs_three_intervals_with_a_deferred_sensor(tmp_path, root, database):
    ports = {name: free_port() for name in ("api", "health", "worker_logs", "trigger_logs")}
    compose = stack.load({})
    paths = {}
    for target, source in stack.mounts(compose, stack.SERVERS[0]).items():
        keep = Path(source) == stack.REPO / "dags"
        paths[target] = source if keep else str(root / Path(target).name)
    paths[stack.IMAGE_HOME] = str(root / "home")
    addresses = {"airflow-apiserver:8080": f"127.0.0.1:{ports['api']}",
                 "localhost:8080": f"127.0.0.1:{ports['api']}",
                 "localhost:8974": f"127.0.0.1:{ports['health']}"}
    if database:
        addresses["postgres:5432"] = database
    hosts = stack.HostMap(paths=paths, addresses=addresses)
    for folder in paths.values():
        Path(folder).mkdir(parents=True, exist_ok=True)
    extra = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
             "HOSTNAME": get_hostname(),    # as in a container: the name jobs record
             "AIRFLOW__API__HOST": "127.0.0.1",
             "AIRFLOW__API__PORT": str(ports["api"]),
             "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports["health"]),
             "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports["worker_logs"]),
             "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports["trigger_logs"])}
    if not database:
        extra["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{root}/airflow.db"

    init = stack.service(compose, stack.INIT, hosts)
    done = subprocess.run(init.argv, env=stack.local_environment(init, hosts, extra),
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"airflow-init failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"

    data = Path(paths["/opt/airflow/data"])
    definition = json.loads((data / "detectors" / "ecommerce.json").read_text())
    # The held-back interval ends at the top of the current hour; with the default
    # deadline (one interval) a stack started in the hour's last minutes would find it
    # already past its deadline, record it missing and never defer.
    definition["Schedule"]["DataDeadlineSeconds"] = 6 * 3600
    (data / "detectors" / "ecommerce.json").write_text(json.dumps(definition))
    first = dt.datetime.fromisoformat(definition["Schedule"]["StartDate"].replace("Z", "+00:00"))
    starts = [first + dt.timedelta(hours=h) for h in range(3)]
    held_back = live_folder(data, starts[2])
    parked = root / "parked"
    held_back.rename(parked)       # the third interval's data has not arrived yet

    processes = Processes(tmp_path)
    # a SIGTERM to pytest (CI timeout) still runs the finally below and stops the stack
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    try:
        servers = [stack.service(compose, name, hosts) for name in stack.SERVERS]
        for svc in servers:
            processes.start(svc.name, svc.argv, stack.local_environment(svc, hosts, extra))
        for svc in servers:        # the compose health checks, run as Docker would
            wait_healthy(svc, stack.local_environment(svc, hosts, extra), processes)

        environment = servers[0].environment
        api = Api(f"http://127.0.0.1:{ports['api']}", "airflow",
                  environment["L4M_ADMIN_PASSWORD"])

        def sensor_state(start: dt.datetime) -> str | None:
            run = runs_by_start(api).get(start)
            if not run:
                return None
            return api.get(f"/dags/{DETECT}/dagRuns/{run['dag_run_id']}"
                           f"/taskInstances/{SENSOR}")["state"]

        wait_for("the third interval's sensor to defer",
                 lambda: sensor_state(starts[2]) == "deferred", processes, timeout=DEADLINE)
        runs = runs_by_start(api)
        assert [runs[s]["state"] for s in starts[:2]] == ["success", "success"], \
            "the catch-up runs before it should have finished, oldest first"
        parked.rename(held_back)   # the data arrives: the triggerer must notice

        def all_done():
            runs = runs_by_start(api)
            states = [runs.get(s, {}).get("state") for s in starts]
            if "failed" in states:
                pytest.fail(f"a detect run failed: {states}\n{processes.tail('airflow-scheduler')}")
            return states == ["success"] * 3

        wait_for("the three detect runs to succeed", all_done, processes, timeout=DEADLINE)
        run_id = runs_by_start(api)[starts[2]]["dag_run_id"]
        sensed = api.get(f"/dags/{DETECT}/dagRuns/{run_id}/taskInstances/{SENSOR}"
                         "/xcomEntries/return_value")["value"]
    finally:
        processes.stop()
        signal.signal(signal.SIGTERM, previous)

    assert "present" in json.dumps(sensed), sensed
    results = data / "results"
    for start in starts:
        record = json.loads((results / "intervals" /
                             f"{start:%Y%m%d_%H%M%S}_interval.json").read_text())
        assert record["Status"] == "DETECTED" and record["MetricsScored"] > 0, record
    assert (data / "dashboard.html").stat().st_size > 0
    assert (data / "catalog.duckdb").stat().st_size > 0
    assert all(proc.poll() is not None for proc in processes.running.values())
