# Two commands from a fresh clone (Python 3.11): `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= out/demo
# The Airflow 3 that CI tests; docker-compose.yaml and the Dockerfile use the same.
AF3_SPEC ?= apache-airflow==3.3.2

AF2_VENV ?= .venv-af2
AF2_SPEC ?= apache-airflow==2.11.*
# The Airflow-facing tests, run again on the lowest supported Airflow (2.11).
AF2_TESTS ?= tests/test_dags.py tests/test_detector_hook.py tests/test_sensors.py \
	tests/test_alerts.py tests/test_catalog.py tests/test_provider.py tests/test_dashboard.py \
	tests/test_pipeline.py tests/test_detector_hook_s3.py tests/test_aws_glue.py \
	tests/test_aws_operators.py tests/test_quicksight_hook.py tests/test_aws_pipeline.py

.PHONY: demo test test-af3 test-af2 install install-af2 browser postgres lint bench bench-venv clean

$(BIN)/l4m: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet '$(AF3_SPEC)' -e '.[dev]'
	touch $@

install: $(BIN)/l4m

$(AF2_VENV)/bin/airflow: pyproject.toml
	$(PYTHON) -m venv $(AF2_VENV)
	$(AF2_VENV)/bin/pip install --quiet --upgrade pip
	$(AF2_VENV)/bin/pip install --quiet '$(AF2_SPEC)' -e '.[dev]'
	touch $@

install-af2: $(AF2_VENV)/bin/airflow

## Headless Chromium for the dashboard check (Debian package; needs root or sudo).
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

## PostgreSQL server for the real-scheduler test (Debian package). Best effort: without
## it the test runs the stack on SQLite and says so.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null \
		|| echo "PostgreSQL not installed: the real-scheduler test will use SQLite"; }

## Main job on the embedded default: the setup and detect DAGs on tutorial data.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/l4m demo --out $(DEMO_DIR)

## Install and run the whole test suite (Airflow 3), then the Airflow-facing tests on 2.11,
## then the MWAA bundle in MWAA-like venvs.
test: test-af3 test-af2 test-mwaa

test-af3: install browser postgres
	$(BIN)/python -m pytest -q

test-af2: install-af2
	$(AF2_VENV)/bin/python -m pytest -q -p no:cacheprovider $(AF2_TESTS)

## Amazon MWAA bundle (docs/mwaa.md): dist/mwaa/ for MWAA_AIRFLOW_VERSION;
## MWAA_DETECTORS=folder ships those definitions instead of dags/detectors/.
MWAA_AIRFLOW_VERSION ?= 3.0.6
MWAA_DETECTORS ?=
# The MWAA versions of l4m.mwaa.TARGETS, each with a test venv and tests/mwaa/pins-<version>.txt.
MWAA_VERSIONS := 2.11.0 3.0.6

.PHONY: mwaa mwaa-venvs test-mwaa

mwaa: install
	$(BIN)/python -m l4m.mwaa --out dist/mwaa --airflow-version $(MWAA_AIRFLOW_VERSION) --dags dags \
		$(if $(MWAA_DETECTORS),--detectors $(MWAA_DETECTORS))

## Lean venvs like MWAA's image: Airflow and the amazon provider at MWAA's pins plus the
## bundle's requirements; l4m itself is not installed (the test unpacks plugins.zip).
.venv-mwaa-%/bin/airflow: tests/mwaa/pins-%.txt plugins/l4m/mwaa.py | $(BIN)/l4m
	rm -rf .venv-mwaa-$*
	$(PYTHON) -m venv .venv-mwaa-$*
	$(BIN)/python -c "from l4m.mwaa import REQUIREMENTS; print(*REQUIREMENTS, sep='\n')" \
		> .venv-mwaa-$*/requirements.txt
	.venv-mwaa-$*/bin/pip install --quiet --upgrade pip
	.venv-mwaa-$*/bin/pip install --quiet -c tests/mwaa/pins-$*.txt apache-airflow \
		'apache-airflow-providers-amazon[aiobotocore]' -r .venv-mwaa-$*/requirements.txt
	touch $@

mwaa-venvs: $(MWAA_VERSIONS:%=.venv-mwaa-%/bin/airflow)

test-mwaa: install mwaa-venvs
	L4M_REQUIRE_MWAA_ENVS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_mwaa_bundle.py

lint: install
	$(BIN)/ruff check plugins tests bench

## Benchmarks against peers (separate venv: the peers need pandas < 3).
bench-venv: .venv-bench/bin/python
.venv-bench/bin/python: bench/requirements-peers.txt
	$(PYTHON) -m venv .venv-bench
	.venv-bench/bin/pip install --quiet -r bench/requirements-peers.txt
	touch $@

bench: install bench-venv
	$(BIN)/python bench/run_bench.py

## Load and soak (docs/reliability.md): 50,000 metrics at PT5M, 288 intervals through
## DetectorHook.detect_interval. Quicker: make soak SOAK_ARGS="--metrics 2000 --intervals 40".
## The hook keeps the newest 12 state versions; --keep-versions 0 keeps all of them, which
## takes 746 MiB more per interval at 50,000 metrics.
SOAK_ARGS ?=
.PHONY: soak
soak: install
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(AF2_VENV) .venv-bench out .venv-mwaa-* dist/mwaa
