"""Hung queries and polls end at their own deadline, not at Prefect's thread timeout."""

from __future__ import annotations

import time

import pytest

from tasks.settings import load_settings
from tasks.warehouse import StatementTimeoutError
from tasks.warehouse.duckdb import DuckDBWarehouse

pytestmark = pytest.mark.scenario(18)
HANG = "SELECT COUNT(*) FROM range(1000000000000) AS a(x) WHERE x % 7 = 3"


def test_a_hung_duckdb_query_is_cancelled_at_its_deadline(tmp_path):
    wh = DuckDBWarehouse(tmp_path / "w.duckdb", statement_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(StatementTimeoutError, match="1 s deadline"):
        wh.fetch_frame(HANG)
    assert time.monotonic() - started <= 1 + 10
    assert wh.scalar("SELECT 42") == 42  # the connection is still usable
    wh.close()


def test_the_deadline_comes_from_settings(tmp_path, monkeypatch):
    from tasks.warehouse import open_warehouse

    monkeypatch.setenv("LIFELINE_DUCKDB_STATEMENT_TIMEOUT_S", "2.5")
    wh = open_warehouse(load_settings(home=tmp_path))
    assert wh.statement_timeout_s == 2.5
    wh.close()


def test_snowflake_connections_carry_statement_and_network_timeouts(monkeypatch, tmp_path):
    import snowflake.connector

    from tasks.warehouse.snowflake import connect_snowflake

    seen = {}
    monkeypatch.setattr(snowflake.connector, "connect", lambda **kw: seen.update(kw))
    key = tmp_path / "k.p8"
    key.write_text("unused")
    connect_snowflake(
        load_settings(
            target="snowflake",
            snowflake_account="acme",
            snowflake_user="u",
            snowflake_private_key_path=key,
            snowflake_statement_timeout_s=600,
            snowflake_network_timeout_s=30,
        )
    )
    assert seen["network_timeout"] == 30
    assert seen["session_parameters"]["STATEMENT_TIMEOUT_IN_SECONDS"] == 600
