"""Shared fixtures: small synthetic data, warehouses, one Prefect test harness per session."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tasks.settings import load_settings
from tasks.synthetic import generate_portfolio
from tasks.warehouse import open_warehouse
from tasks.warehouse.duckdb import DuckDBWarehouse
from tests.reliability.harness import STEPS, copy_home, run

os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# A secret every settings object in the session carries; the report plugin fails the run if
# it shows up in any captured log, output or error (docs/reliability.md, scenario 29).
# (A live run's real passphrase is kept, and is then the secret that must not leak.)
os.environ.setdefault("LIFELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "lifeline-canary-5ecret-7f3a")

# Most tests run without the BTYD fits (seconds per cut-off); tests of that path opt in.
os.environ.setdefault("LIFELINE_POLICY_FILE", str(Path(__file__).with_name("policy.toml")))

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

    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"  # offline: no telemetry attempts
    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh LIFELINE_HOME for a flow test."""
    path = tmp_path / "home"
    monkeypatch.setenv("LIFELINE_HOME", str(path))
    monkeypatch.setenv("LIFELINE_TARGET", "local")
    return path


@pytest.fixture(scope="session")
def homes(portfolio, tmp_path_factory) -> dict[str, tuple[Path, Path, float]]:
    """Crash harness, per step: (home before it, home after a clean run of it, its duration)."""
    base = tmp_path_factory.mktemp("crash")
    before = base / "0-empty"
    open_warehouse(load_settings(home=before)).close()
    out = {}
    for i, step in enumerate(STEPS, 1):
        after = copy_home(before, base / f"{i}-{step}")
        started = time.monotonic()
        assert run(step, after, portfolio) == 0
        out[step] = (before, after, time.monotonic() - started)
        before = after
    return out
