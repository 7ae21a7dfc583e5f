# Coinpilot: two commands do everything on a fresh machine.
#   make demo   - set up, migrate, and run the demo (mock mode, replayed real candles)
#   make test   - set up, then lint, type-check and run the full test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
# pytest-xdist workers: one per CPU. Every worker has its own temp dirs, SQLite files and
# PostgreSQL database (tests/conftest.py); servers take free ports. WORKERS=0 runs in one process.
WORKERS ?= auto

.PHONY: demo test lint typecheck unit test-pg browser-deps postgres bench clean help

help:
	@echo "make demo     run Coinpilot's demo (mock trading on shipped history) on http://127.0.0.1:8000"
	@echo "make test     lint, type-check and run the whole test suite (SQLite)"
	@echo "make test-pg  run the database tests against PostgreSQL ($(PG_URL))"
	@echo "make bench    run the benchmarks in bench/"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency list changes. An editable install leaves src/ uncompiled and
# PYTHONDONTWRITEBYTECODE (set on some machines) stops Python caching it, so every command would
# compile ~90 modules (~0.07 s): compile them once here (a stale file is recompiled, never misused).
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m compileall -q src
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/coinpilot demo $(ARGS)

browser-deps:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the dashboard tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: browser tests will be skipped"; \
	  else echo "chromium not found at $(CHROMIUM): browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) browser-deps lint typecheck
	$(VENV)/bin/pytest -n $(WORKERS) $(PYTEST_ARGS)

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  (pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && sleep 2 && pg_isready -h 127.0.0.1 -p 5432)

# Only the tests that open the test database run again here (tests/conftest.py marks them).
test-pg: $(STAMP) postgres
	COINPILOT_TEST_DATABASE=$(PG_URL) $(VENV)/bin/pytest -n $(WORKERS) tests/integration tests/e2e \
	  -m "not browser" $(PYTEST_ARGS)

bench: $(STAMP)
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
