# Two commands for a new machine: `make demo` and `make test` (see README.md).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The dbt manifest Dagster loads its assets from: made here (`dbt parse`), never on import.
MANIFEST := dbt_project/target/manifest.json
DBT_FILES := $(shell find dbt_project/dbt_project.yml dbt_project/models dbt_project/macros \
	dbt_project/seeds dbt_project/tests dbt_project/snapshots -type f 2>/dev/null)

.PHONY: demo test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24,<27"

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(MANIFEST): $(STAMP) $(DBT_FILES)
	DBT_SEND_ANONYMOUS_USAGE_STATS=false $(BIN)/dbt parse --quiet --project-dir dbt_project \
		--profiles-dir dbt_project
	touch $(MANIFEST)

# The dashboards' charting library: from the npm registry (package-lock.json), copied into the
# static folder the report service serves (no CDN: the pages work offline).
FRONTEND := report_service/dashboards/frontend
VENDOR := report_service/dashboards/static/vendor/echarts.min.js

$(VENDOR): $(FRONTEND)/package.json $(FRONTEND)/package-lock.json $(FRONTEND)/copy-vendor.mjs
	@command -v npm >/dev/null || { echo "npm (Node.js 18+) is needed to install the dashboards' charting library" >&2; exit 1; }
	npm ci --prefix $(FRONTEND) --no-audit --no-fund --loglevel=error
	npm run --prefix $(FRONTEND) --silent build
	touch $(VENDOR)

install: $(STAMP) $(MANIFEST) $(VENDOR)

demo: install
	$(BIN)/lms-analytics demo

test: install
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check .

clean:
	-$(BIN)/lms-analytics stack down
	rm -rf $(VENV) .lms-analytics $(FRONTEND)/node_modules $(dir $(VENDOR))
