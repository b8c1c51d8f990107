# Carnet — the two commands: `make run` (platform with demo data) and `make test` (whole suite).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install postgres node chromium check bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the platform: SQLite + files under ./data, demo data, API on http://127.0.0.1:8000
run: install
	$(BIN)/carnet serve

## Run the whole test suite: static checks, then every test on SQLite and on a throwaway PostgreSQL cluster
## (and against an external OpenID provider run with Node.js; the web portals in Debian's Chromium)
test: install postgres node chromium check
	CARNET_REQUIRE_POSTGRES=1 CARNET_REQUIRE_NODE=1 CARNET_REQUIRE_CHROMIUM=1 $(BIN)/python -m pytest

## Static checks: lint, formatting, strict typing
check: install
	$(BIN)/ruff check carnet tests scripts
	$(BIN)/ruff format --check carnet tests scripts
	$(BIN)/mypy

postgres:
	bash scripts/ensure-postgres.sh

node:
	bash scripts/ensure-node.sh

chromium: node
	bash scripts/ensure-chromium.sh

bench: install postgres
	$(BIN)/carnet bench identity

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis tests/oidc/node_modules tests/web/node_modules
