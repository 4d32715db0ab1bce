# The README's commands and the operations around them. Everything runs from the project's own .venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FOUNDATION_DATABASE_URL ?= sqlite+aiosqlite:///./var/foundation.db

.PHONY: run test venv venv-dev lint typecheck pytest clean

$(BIN)/foundation: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/foundation
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/foundation
venv-dev: $(VENV)/.dev

run: venv
	mkdir -p var
	$(BIN)/foundation db upgrade
	$(BIN)/foundation seed
	$(BIN)/foundation serve --host 127.0.0.1 --port 8000

lint: venv-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv-dev
	$(BIN)/mypy

pytest: venv-dev
	$(BIN)/pytest -q

system-deps:
	bash scripts/system-deps.sh

# Lint, types, the whole suite on SQLite, the HTTP suite again on PostgreSQL, Redis/multi-worker tests.
test: venv-dev system-deps
	BIN=$(BIN) bash scripts/test.sh

# Private PostgreSQL / Redis for development (see docs/operations.md); `make db-env` prints the exports.
.PHONY: db-up db-down db-env redis-up redis-down system-deps
db-up: venv
	$(BIN)/python -m foundation.ops.devtools.postgres up --dir var/pg

db-down: venv
	$(BIN)/python -m foundation.ops.devtools.postgres down --dir var/pg

db-env: venv
	@$(BIN)/python -m foundation.ops.devtools.postgres env --dir var/pg

redis-up: venv
	$(BIN)/python -m foundation.ops.devtools.redis up --dir var/redis

redis-down: venv
	$(BIN)/python -m foundation.ops.devtools.redis down --dir var/redis

# Native observability stack (docs/observability-stack.md). Debian's prometheus package brings promtool.
.PHONY: stack stack-down dashboards prometheus-install chromium-install
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

prometheus-install:
	@if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y prometheus; \
	fi

chromium-install:
	@if ! command -v chromium >/dev/null 2>&1; then \
		$(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; \
	fi

stack: venv prometheus-install
	$(BIN)/foundation stack up

stack-down: venv
	$(BIN)/foundation stack down

dashboards: venv
	$(BIN)/foundation stack dashboards

clean:
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
