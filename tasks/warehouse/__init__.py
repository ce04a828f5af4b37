"""Warehouse port and adapters; `open_warehouse` picks one from settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.warehouse.base import (
    DDLInTransactionError,
    DuplicateKeyError,
    StatementTimeoutError,
    Warehouse,
)

if TYPE_CHECKING:
    from tasks.settings import LifelineSettings

__all__ = [
    "DDLInTransactionError",
    "DuplicateKeyError",
    "StatementTimeoutError",
    "Warehouse",
    "open_warehouse",
]


def landing_stage(settings: LifelineSettings) -> tuple[str, str] | None:
    """(stage, s3:// URL) of the external landing stage, when both are configured."""
    if settings.snowflake_landing_stage and settings.snowflake_landing_url:
        return settings.snowflake_landing_stage, settings.snowflake_landing_url
    return None


def open_warehouse(settings: LifelineSettings, read_only: bool = False) -> Warehouse:
    """Connect to the warehouse chosen by LIFELINE_TARGET and make sure the schema exists.

    READ_ONLY (the dashboard) writes nothing, not even the schema: on DuckDB it opens the
    file read-only, for as long as one read takes, so scheduled runs can still write it.
    """
    if settings.target == "snowflake":
        from tasks.warehouse.snowflake import SnowflakeWarehouse, connect_snowflake

        wh: Warehouse = SnowflakeWarehouse(
            connect_snowflake(settings), settings.snowflake_database, landing_stage(settings)
        )
    else:
        from tasks.warehouse.duckdb import DuckDBWarehouse

        wh = DuckDBWarehouse(
            settings.duckdb_path,
            settings.duckdb_memory_limit,
            settings.duckdb_statement_timeout_s,
            read_only,
        )
    if not read_only:
        wh.bootstrap()
    return wh
