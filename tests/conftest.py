"""Shared fixtures: small synthetic data, warehouses, one Prefect test harness per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.synthetic import generate_portfolio
from tasks.warehouse.duckdb import DuckDBWarehouse

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# A secret every settings object in the session carries; the report plugin fails the run if
# it shows up in any captured log, output or error (docs/reliability.md, scenario 29).
# (A live run's real passphrase is kept, and is then the secret that must not leak.)
os.environ.setdefault("LIFELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "lifeline-canary-5ecret-7f3a")

pytest_plugins = ["tests.reliability.report"]


@pytest.fixture(scope="session")
def portfolio(tmp_path_factory) -> Path:
    """A small synthetic portfolio folder (customers/ and transactions/)."""
    out = tmp_path_factory.mktemp("portfolio")
    generate_portfolio(out, customers=800, transactions=80_000, seed=11)
    return out


@pytest.fixture
def wh(tmp_path) -> DuckDBWarehouse:
    """An empty, bootstrapped DuckDB warehouse file."""
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    warehouse.bootstrap()
    yield warehouse
    warehouse.close()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for every flow test in the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh LIFELINE_HOME for a flow test."""
    path = tmp_path / "home"
    monkeypatch.setenv("LIFELINE_HOME", str(path))
    monkeypatch.setenv("LIFELINE_TARGET", "local")
    return path
