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

install: $(STAMP) $(MANIFEST)

demo: install
	$(BIN)/lms-analytics demo

test: install
	$(BIN)/python -m pytest tests

lint: install
	$(BIN)/ruff check .

clean:
	-$(BIN)/lms-analytics stack down
	rm -rf $(VENV) .lms-analytics
