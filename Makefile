# The README's commands and the operations around them. Everything runs from the project's own .venv, installed
# from the lock files in requirements/ (hashes checked) with uv; `make lock` regenerates them.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
UV := VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/uv
export FOUNDATION_DATABASE_URL ?= sqlite+aiosqlite:///./var/foundation.db

.PHONY: run test venv venv-dev lint typecheck pytest clean lock rehearse

$(BIN)/uv:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==$(UV_VERSION)

# The runtime alone (what the image carries): enough for `make run`. Compiled at install: where
# PYTHONDONTWRITEBYTECODE is set (these machines set it) every start would otherwise compile SQLAlchemy,
# FastAPI, pydantic … again (importing the app: 5.3 s of CPU instead of 1.6-2.0 s; docs/operations.md).
$(BIN)/foundation: requirements/runtime.txt pyproject.toml | $(BIN)/uv
	$(UV) pip install -q --compile-bytecode --require-hashes -r requirements/runtime.txt
	$(UV) pip install -q --no-deps -e .
	touch $@

# Runtime + client + ops + test tools.
$(VENV)/.dev: requirements/dev.txt $(BIN)/foundation
	$(UV) pip install -q --require-hashes -r requirements/dev.txt
	touch $@

# Lock files: the runtime, everything for development, and the lowest versions the floors in pyproject.toml
# admit (the lowest-direct stage of `make test` runs the HTTP suite on them).
lock: $(BIN)/uv
	$(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 --generate-hashes -o requirements/runtime.txt
	$(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 --generate-hashes --extra dev \
		-o requirements/dev.txt
	$(BIN)/uv pip compile -q pyproject.toml --python-version 3.11 --generate-hashes --extra dev \
		--resolution lowest-direct -o requirements/lowest-direct.txt
	$(BIN)/uv pip compile -q requirements/deploy-tools.in --python-version 3.11 --generate-hashes \
		-o requirements/deploy-tools.txt

venv: $(BIN)/foundation
venv-dev: $(VENV)/.dev

# Two more environments for `make test`, each from its lock file with hashes, rebuilt only when it changes:
# - .venv-lowest: the lowest versions pyproject.toml's floors admit (the floors' check), project editable;
# - .venv-runtime: the production install, runtime lock + `pip install --no-deps .` (a real wheel, so the
#   package data it ships is what is tested); the project is reinstalled on every run, the locked
#   dependencies only when runtime.txt changes.
LOWEST_VENV := .venv-lowest
RUNTIME_VENV := .venv-runtime

$(LOWEST_VENV)/.installed: requirements/lowest-direct.txt pyproject.toml | $(BIN)/uv
	$(BIN)/uv venv -q --clear --python $(PY) $(LOWEST_VENV)
	VIRTUAL_ENV=$(abspath $(LOWEST_VENV)) $(BIN)/uv pip install -q --require-hashes -r requirements/lowest-direct.txt
	VIRTUAL_ENV=$(abspath $(LOWEST_VENV)) $(BIN)/uv pip install -q --no-deps -e .
	touch $@

$(RUNTIME_VENV)/.installed: requirements/runtime.txt | $(BIN)/uv
	$(BIN)/uv venv -q --clear --python $(PY) $(RUNTIME_VENV)
	VIRTUAL_ENV=$(abspath $(RUNTIME_VENV)) $(BIN)/uv pip install -q --require-hashes -r requirements/runtime.txt
	touch $@

.PHONY: venv-lowest venv-runtime
venv-lowest: $(LOWEST_VENV)/.installed
venv-runtime: $(RUNTIME_VENV)/.installed
	VIRTUAL_ENV=$(abspath $(RUNTIME_VENV)) $(BIN)/uv pip install -q --no-deps --reinstall-package iabank-foundation .

run: venv
	mkdir -p var
	$(BIN)/foundation db upgrade
	$(BIN)/foundation seed
	$(BIN)/foundation serve --host 127.0.0.1 --port 8000

lint: venv-dev
	$(BIN)/ruff check src tests bench conftest.py
	$(BIN)/ruff format --check src tests bench conftest.py

typecheck: venv-dev
	$(BIN)/mypy

pytest: venv-dev
	$(BIN)/pytest -q

system-deps:
	bash scripts/system-deps.sh

# Lint, types, the whole suite on SQLite, the HTTP suite again on PostgreSQL, Redis/multi-worker tests, the
# Kubernetes manifests (kubectl kustomize, kubernetes-validate, checkov).
# The environments are installed side by side (-j4: mostly downloads and unpacking, ~37 s one after another
# on a fresh machine), then the stages run.
test:
	$(MAKE) -j4 venv-dev venv-lowest venv-runtime system-deps deploy-tools
	BIN=$(BIN) LOWEST_BIN=$(LOWEST_VENV)/bin RUNTIME_BIN=$(RUNTIME_VENV)/bin DEPLOY_BIN=$(DEPLOY_VENV)/bin \
	  bash scripts/test.sh

# Kubernetes deployment (docs/deploy-kubernetes.md). checkov and a pinned kubectl have their own venv and lock
# (checkov's pins conflict with the dev lock); rebuilt only when requirements/deploy-tools.txt changes.
.PHONY: deploy-tools deploy-generate deploy-check
DEPLOY_VENV ?= .venv-deploy

$(DEPLOY_VENV)/.installed: requirements/deploy-tools.txt | $(BIN)/uv
	rm -rf $(DEPLOY_VENV)
	$(PY) -m venv $(DEPLOY_VENV)
	VIRTUAL_ENV=$(abspath $(DEPLOY_VENV)) $(BIN)/uv pip install -q --require-hashes -r requirements/deploy-tools.txt
	touch $@

deploy-tools: $(DEPLOY_VENV)/.installed

# deploy/kubernetes/base/generated/ from infra/ and the dashboard panels.
deploy-generate: venv-dev
	$(BIN)/foundation deploy render

# The deployment checks alone (generated files, kustomize, schemas, checkov).
deploy-check: venv-dev deploy-tools
	FOUNDATION_DEPLOY_BIN=$(DEPLOY_VENV)/bin $(BIN)/pytest -q tests/deploy

# The security release gate alone (docs/security-gate.md); `make test` runs it too.
.PHONY: security
security: venv-dev
	$(BIN)/foundation validate --stage security $(SECURITY_ARGS)

# Three API instances behind HAProxy on one PostgreSQL and one Redis, all private and stopped at the end:
# the tests under tests/rehearsal (docs/operations.md, "Rehearsing several instances"). `foundation rehearse`
# runs the same fleet in the foreground for manual use.
rehearse: venv-dev system-deps
	FOUNDATION_TEST_REHEARSAL=1 $(BIN)/pytest -q -p no:cacheprovider tests/rehearsal

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
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache $(LOWEST_VENV) $(RUNTIME_VENV)
