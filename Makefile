# The README's two commands are `make demo` and `make test`; each creates or refreshes .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

.PHONY: venv demo test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[spark,embed,report,dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m spark_prune.demo

test: $(STAMP)
	$(PY) -m ruff check spark_prune jobs tests bench
	$(PY) -m ruff format --check spark_prune jobs tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(PY) -m ruff check spark_prune jobs tests bench
	$(PY) -m ruff format --check spark_prune jobs tests bench

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	$(PY) bench/bench_dbp.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache
