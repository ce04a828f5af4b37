# Lifeline: `make demo` runs the pipeline on synthetic data, `make test` runs the checks.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
UV_VERSION := 0.13.9
PYTEST_ARGS ?=

.PHONY: install demo test test-e2e lint lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/lifeline run

lint: install
	$(BIN)/ruff check flows tasks tests
	$(BIN)/ruff format --check flows tasks tests

test: lint
	$(BIN)/pytest -m "not live and not e2e" $(PYTEST_ARGS)

test-e2e: install
	$(BIN)/pytest -m e2e $(PYTEST_ARGS)

# Re-resolve the lock after editing pyproject.toml dependencies.
lock:
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .lifeline .pytest_cache .ruff_cache
