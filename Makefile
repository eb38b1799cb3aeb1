# Two commands matter: `make run` (the whole stack) and `make test` (the whole suite).
# Both need only python3 (3.11+); everything else is installed into .venv from pinned versions.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := -e libs/servicekit[dev] -e services/segmentation -e services/campaigns -e services/capacity -e gateway
STAMP := $(VENV)/.installed

.PHONY: run test migrate keys lint format lock bench clean

$(STAMP): requirements.lock libs/servicekit/pyproject.toml services/*/pyproject.toml gateway/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c requirements.lock $(PACKAGES)
	touch $(STAMP)

## run: start Postgres, migrate, and run gateway + services until Ctrl-C
run: $(STAMP)
	$(PY) deploy/local/devstack.py

## test: the whole test suite against a real Postgres
test: $(STAMP)
	$(PY) -m pytest

## migrate: apply every schema's migrations
migrate: $(STAMP)
	$(PY) -m servicekit.migrations upgrade

## keys: manage API keys, e.g. make keys ARGS="create --name erp --scope write"
keys: $(STAMP)
	$(PY) -m gateway.keys $(or $(ARGS),list)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## lock: re-pin requirements.lock from what is installed
lock: $(STAMP)
	{ echo "# Exact versions of every third-party package (direct and transitive), used as pip constraints."; \
	  echo "# Regenerate after changing a pyproject.toml: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock

bench: $(STAMP)
	$(PY) bench/customers_api.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
