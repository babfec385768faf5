# dmarctui — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
FUZZ_SECONDS ?= 60
BENCH_ARGS ?=
FUZZ_TARGETS := message aggregate failure tls headers mime_split
STAMP  := $(VENV)/.installed

.PHONY: help demo test lint bench fuzz screenshots snapshots clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,reference]'
	touch $(STAMP)

demo: $(STAMP) ## build the demo mailbox and open it in the TUI
	$(BIN)/dmarctui --demo

test: $(STAMP) ## install everything the tests need, lint, run the tests
	@# The IMAP tests run against a throw-away Dovecot; without root they skip, naming the package.
	@command -v dovecot >/dev/null || test -x /usr/sbin/dovecot || { [ "$$(id -u)" = 0 ] \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null) \
		|| echo "dovecot-imapd not installed (needs root): the IMAP tests will skip"; }
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff (format and lint) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP) ## whole commands (scan, flagged, readiness) vs parsedmarc, internals, export; options in BENCH_ARGS
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

fuzz: $(STAMP) ## run each fuzz target (atheris) for FUZZ_SECONDS seconds; logs and crashes in fuzz/work
	@mkdir -p fuzz/work
	@for target in $(FUZZ_TARGETS); do \
		if $(BIN)/python fuzz/run.py $$target --seconds $(FUZZ_SECONDS) > fuzz/work/$$target.log 2>&1; \
		then echo "$$target: $$(grep '^Done' fuzz/work/$$target.log)"; \
		else echo "$$target: crashed, see fuzz/work/$$target.log and fuzz/work/crashes/"; exit 1; fi; \
	done

screenshots: $(STAMP) ## regenerate screenshots/*.svg from the demo mailbox
	$(BIN)/python scripts/screenshots.py

snapshots: $(STAMP) ## re-record the TUI snapshot tests (read the report first)
	$(BIN)/python -m pytest tests/tui --snapshot-update

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
