# Quorum: the two set-up commands of the README.
#   make run   installs what the app needs into .venv and starts it on the bundled demo workspace
#   make test  installs the test tools and Debian's chromium too, then runs all three test layers
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

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation >/dev/null; \
	  else \
	    echo "error: the browser tests need Debian's chromium: run 'sudo apt-get install chromium', then 'make test' again" >&2; \
	    exit 1; \
	  fi; }
.PHONY: chromium

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

test: $(VENV)/.test chromium
	$(PY) -m pytest tests

test-unit test-app test-browser: $(VENV)/.test
	$(PY) -m pytest tests/$(subst test-,,$@)

BENCH_DB := artifacts/bench-10m.duckdb

bench: $(VENV)/.runtime
	$(PY) benchmarks/seed_demo.py
	@mkdir -p artifacts
	@[ -f $(BENCH_DB) ] || $(PY) -m governance init --demo --db $(BENCH_DB) --rows 10000000
	$(PY) benchmarks/kpi_page.py --db $(BENCH_DB)
	$(PY) benchmarks/drift_report.py --db $(BENCH_DB)
	$(PY) benchmarks/fairness_audit.py
	$(PY) benchmarks/explanations.py

clean:
	rm -rf $(VENV) artifacts .pytest_cache
