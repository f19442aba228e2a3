# Entry points; every target first runs scripts/setup.sh (idempotent, quick when
# nothing changed). `make test` is the test command CI runs (.ci/run).
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup test lint demo bench

setup:
	bash scripts/setup.sh

test: setup
	$(PYTHON) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check server tests
	.venv/bin/mypy

demo: setup
	.venv/bin/radmfa demo

bench: setup
	$(PYTHON) bench/run.py
