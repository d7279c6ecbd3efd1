# Two commands from a fresh clone (Python 3.11): `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= out/demo

AF2_VENV ?= .venv-af2
AF2_SPEC ?= apache-airflow==2.11.*
# The Airflow-facing tests, run again on the lowest supported Airflow (2.11).
AF2_TESTS ?= tests/test_dags.py tests/test_detector_hook.py tests/test_sensors.py \
	tests/test_alerts.py tests/test_catalog.py tests/test_provider.py tests/test_dashboard.py \
	tests/test_pipeline.py tests/test_detector_hook_s3.py tests/test_aws_glue.py \
	tests/test_aws_operators.py tests/test_quicksight_hook.py tests/test_aws_pipeline.py

.PHONY: demo test test-af3 test-af2 install install-af2 browser lint bench bench-venv clean

$(BIN)/l4m: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
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

## Main job on the embedded default: the setup and detect DAGs on tutorial data.
demo: install
	rm -rf $(DEMO_DIR)
	$(BIN)/l4m demo --out $(DEMO_DIR)

## Install and run the whole test suite (Airflow 3), then the Airflow-facing tests on 2.11.
test: test-af3 test-af2

test-af3: install browser
	$(BIN)/python -m pytest -q

test-af2: install-af2
	$(AF2_VENV)/bin/python -m pytest -q -p no:cacheprovider $(AF2_TESTS)

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

clean:
	rm -rf $(VENV) $(AF2_VENV) .venv-bench out
