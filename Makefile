# Quorum: the two set-up commands of the README.
#   make run   installs what the app needs into .venv and serves the app and its API (one port) on the demo workspace
#   make test  installs the test tools and Debian's chromium, poppler-utils, Pango and PostgreSQL; runs all three layers
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= localhost

.PHONY: run test test-unit test-app test-browser bench clean

$(VENV)/.runtime: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Quorum needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	@touch $@

# Debian packages: Pango and fonts for the PDF reports (WeasyPrint); for the tests also chromium (browser tests)
# and poppler-utils (pdftotext reads the PDFs back), Java 17 for Spark in local mode (telemetry sources), and
# PostgreSQL (the record's tests start a server of their own; its programs are not on PATH).
# Installed as root when missing; otherwise we say what to run.
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
TEST_PACKAGES := $(PDF_PACKAGES) chromium fonts-liberation poppler-utils openjdk-17-jre-headless postgresql
has_pango = /sbin/ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0.so.0

pdf-libraries:
	@$(has_pango) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PDF_PACKAGES) >/dev/null; \
	  else \
	    echo "warning: PDF export needs Pango: run 'sudo apt-get install $(PDF_PACKAGES)'; the rest of Quorum works without it" >&2; \
	  fi; }

system-packages:
	@{ command -v chromium && command -v pdftotext && command -v java && $(has_pango) && \
	   ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TEST_PACKAGES) >/dev/null; \
	  else \
	    echo "error: the tests need Debian's packages: run 'sudo apt-get install $(TEST_PACKAGES)', then 'make test' again" >&2; \
	    exit 1; \
	  fi; }
.PHONY: pdf-libraries system-packages

# A local PostgreSQL (Debian's package) to try a shared deployment by hand: its data in data/postgres/ (git-ignored),
# on 127.0.0.1 only (a free port, or PG_PORT=N), with a database `quorum`; it prints the QUORUM_DB to use.
# Password-less for this machine, not for production. `make postgres-stop` stops it; the data stays.
PG_DATA := data/postgres
PG_PORT ?=
postgres: $(VENV)/.runtime
	$(PY) -m governance.record.postgres_server start --data-dir $(PG_DATA) $(if $(PG_PORT),--port $(PG_PORT))

postgres-stop: $(VENV)/.runtime
	$(PY) -m governance.record.postgres_server stop --data-dir $(PG_DATA)
.PHONY: postgres postgres-stop

# The server: the pages and the HTTP API (/api/v1/) on one port, in one process that owns the workspace (QUORUM_DB,
# else data/quorum.duckdb, which gets the demo on first start in the browser). QUORUM_DEMO_MODE=1 offers the demo's
# password-less sign-in (only in the demo workspace, on localhost, without an identity provider); DEMO_MODE=0 not.
DEMO_MODE ?= 1
run: $(VENV)/.runtime pdf-libraries
	QUORUM_DEMO_MODE=$(DEMO_MODE) $(PY) -m governance serve --port $(PORT) --address $(ADDRESS)

# Three workers (pytest-xdist) on two cores: part of the suite's time is spent waiting (servers starting, pages
# settling, PostgreSQL syncing), which a third worker fills (measured on a fresh clone: 22 min 44 s of pytest
# against 23 min 36 s with two). A test file stays on one worker, so its module fixtures are built once.
WORKERS ?= 3

test: $(VENV)/.test system-packages
	$(PY) -m pytest tests -n $(WORKERS) --dist loadfile

test-unit test-app test-browser: $(VENV)/.test
	$(PY) -m pytest tests/$(subst test-,,$@)

BENCH_DB := artifacts/bench-10m.duckdb

bench: $(VENV)/.test pdf-libraries   # the test tools too: the page benchmark drives Chromium
	$(PY) benchmarks/seed_demo.py
	@mkdir -p artifacts
	@[ -f $(BENCH_DB) ] || $(PY) -m governance init --demo --db $(BENCH_DB) --rows 10000000
	$(PY) benchmarks/kpi_page.py --db $(BENCH_DB)
	$(PY) benchmarks/drift_report.py --db $(BENCH_DB)
	$(PY) benchmarks/rollup_upsert.py --db $(BENCH_DB)
	$(PY) benchmarks/fairness_audit.py
	$(PY) benchmarks/fairness_interval_coverage.py
	$(PY) benchmarks/anomaly_false_alarms.py
	$(PY) benchmarks/ab_latency_coverage.py
	$(PY) benchmarks/ab_rates_coverage.py
	$(PY) benchmarks/slo_false_breaches.py
	$(PY) benchmarks/drift_false_alarms.py
	$(PY) benchmarks/robustness_verdicts.py
	$(PY) benchmarks/explanations.py
	$(PY) benchmarks/record_engines.py
	$(PY) benchmarks/explanations_page_browser.py
	$(PY) benchmarks/report_pdf.py
	QUORUM_SPARK_MEMORY=8g $(PY) benchmarks/telemetry_lake.py
	$(PY) benchmarks/cli_startup.py --db artifacts/bench-5m.duckdb
	$(PY) benchmarks/api_latency.py --db artifacts/bench-demo.duckdb

clean:
	rm -rf $(VENV) artifacts .pytest_cache
