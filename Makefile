# dmarctui — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help demo test lint bench screenshots snapshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP) ## build the demo mailbox and open it in the TUI
	$(BIN)/dmarctui --demo

test: $(STAMP) ## install everything the tests need, lint, run the tests
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff (format and lint) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) ## whole commands (scan, flagged, readiness) vs parsedmarc, internals (prints a table)
	$(BIN)/python scripts/bench.py

screenshots: $(STAMP) ## regenerate screenshots/*.svg from the demo mailbox
	$(BIN)/python scripts/screenshots.py

snapshots: $(STAMP) ## re-record the TUI snapshot tests (read the report first)
	$(BIN)/python -m pytest tests/tui --snapshot-update

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
