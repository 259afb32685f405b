# Pricewire: `make run` serves the demo, `make test` runs the whole suite. Only Python 3.11+ needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FLASK := $(BIN)/flask --app wsgi

.PHONY: install run test test-python test-js chromium nginx stack bench bench-quick lint clean

install: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

# Embedded mode: SQLite under instance/, in-process bus and feed, simulated provider; the demo
# refreshes every 5 s unless REALTIME_UPDATE_INTERVAL says otherwise (the service default is 30).
run: install
	env -u DATABASE_URL -u REDIS_URL $(FLASK) db upgrade
	env -u DATABASE_URL -u REDIS_URL $(FLASK) demo seed
	env -u DATABASE_URL -u REDIS_URL REALTIME_UPDATE_INTERVAL=$${REALTIME_UPDATE_INTERVAL:-5} $(BIN)/python wsgi.py

test: install chromium nginx test-js test-python

test-js:
	@if command -v node >/dev/null; then node --test tests/js/; \
	else echo "node not found: skipping JS unit tests (install Node.js 20+)"; fi

test-python:
	$(BIN)/pytest

# Debian's Chromium for the Playwright browser tests; installed when missing and we are root.
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium not installed: browser tests will be skipped (apt-get install chromium)"; fi; }

# Debian's nginx for the tests of deploy/nginx/pricewire.conf; installed when missing and we are root.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else echo "nginx not installed: proxy tests will be skipped (apt-get install nginx)"; fi; }

# The production topology on one machine, against DATABASE_URL and REDIS_URL.
stack: install
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "set DATABASE_URL and REDIS_URL"; exit 2; }
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(BIN)/honcho start -f Procfile

bench: install
	$(BIN)/python -m bench.run --full

bench-quick: install
	$(BIN)/python -m bench.run --quick

# ruff (style, docstrings, complexity), mypy --strict, and import-linter's layer/cycle contracts (pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy app models tasks cli protocol infra
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
