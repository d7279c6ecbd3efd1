# Two commands from a fresh clone (Python 3.11): `make demo` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= out/demo

.PHONY: demo test install lint bench bench-venv clean

$(BIN)/l4m: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/l4m

## Main job on the embedded default: tutorial data -> backtest -> accuracy against labels.
demo: install
	$(BIN)/l4m demo --out $(DEMO_DIR)

## Install and run the whole test suite.
test: install
	$(BIN)/python -m pytest -q

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
	rm -rf $(VENV) .venv-bench out
