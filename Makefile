# Two set-up commands: `make serve` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-cpu

.PHONY: install test serve lint bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[cpu,test]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q --timeout=600 tests

lint: $(STAMP)
	$(VENV)/bin/ruff check generator tests benchmarks examples

bench: $(STAMP)
	$(PY) benchmarks/runtime_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
