"""The Warehouse port: the only way Lifeline code talks to a SQL engine."""

from __future__ import annotations

import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Literal

import pandas as pd

from tasks.identifiers import quote_identifier, validate_identifier
from tasks.warehouse.sqlfiles import load_sql, render_sql

WriteMode = Literal["append", "overwrite", "merge"]
SCHEMAS = ("RAW", "FEATURES", "ML", "OPS")
BOOTSTRAP_FILES = (
    "bootstrap/20_create_raw_customers",
    "bootstrap/21_create_raw_transactions",
    "bootstrap/22_create_raw_load_manifest",
    "bootstrap/23_add_manifest_min_id",
    "bootstrap/24_add_manifest_max_id",
    "bootstrap/25_add_manifest_status",
    "bootstrap/26_add_manifest_reason",
    "bootstrap/27_add_manifest_source_version",
    "bootstrap/28_add_manifest_rows_skipped",
    "bootstrap/31_create_labels",
    "bootstrap/32_create_feature_registry",
    "bootstrap/33_create_snapshot_dates",
    "bootstrap/40_create_customer_scores",
    "bootstrap/41_create_drift_metrics",
    "bootstrap/42_create_realised_performance",
    "bootstrap/43_add_scores_risk_reasons",
    "bootstrap/50_create_quality_results",
    "bootstrap/51_create_pipeline_runs",
)


class DuplicateKeyError(ValueError):
    """A batch to be merged has more than one row for the same key."""


class DDLInTransactionError(RuntimeError):
    """DDL inside an explicit transaction: Snowflake would commit the open work at that point."""


class StatementTimeoutError(TimeoutError):
    """A statement ran past its deadline and was cancelled."""


# Snowflake commits an open transaction when it meets one of these (docs/reliability.md, finding 1).
DDL = re.compile(r"^\s*(CREATE|DROP|ALTER|TRUNCATE|UNDROP|GRANT|REVOKE|COMMENT|USE)\b", re.I)


class FileReadError(ValueError):
    """A source file the engine cannot read (corrupt, ragged, wrong format)."""


def first_line(exc: BaseException) -> str:
    """The first line of an engine error, for one-line messages."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def engine_type(type_name: str) -> str:
    """Classify an engine column type as datetime, number or text."""
    name = type_name.upper()
    if name.startswith(("TIMESTAMP", "DATE")):
        zoned = "TIME ZONE" in name or name.startswith(
            ("TIMESTAMPTZ", "TIMESTAMP_TZ", "TIMESTAMP_LTZ")
        )
        return "datetime_tz" if zoned else "datetime"
    numeric = (
        "INT",
        "BIGINT",
        "SMALLINT",
        "TINYINT",
        "HUGEINT",
        "DOUBLE",
        "FLOAT",
        "REAL",
        "DECIMAL",
        "NUMBER",
        "NUMERIC",
        "UBIGINT",
        "UINTEGER",
    )
    return "number" if name.startswith(numeric) else "text"


class Warehouse(ABC):
    """Same operations over DuckDB (embedded) and Snowflake (production)."""

    dialect: str
    in_transaction: bool = False
    # Whether ingest inserts a file straight into RAW inside a transaction and gates the
    # inserted rows there (no staging copy), keeping the staged path for flagged loads.
    gates_in_place: bool = False

    # engine-specific primitives -------------------------------------------------------
    @abstractmethod
    def _execute(self, text: str, params: Mapping[str, Any]) -> None:
        """Run one statement already rendered for this engine."""

    @abstractmethod
    def _fetch(self, text: str, params: Mapping[str, Any]) -> pd.DataFrame:
        """Run one rendered query and return all rows."""

    @abstractmethod
    def _fetch_batches(
        self, text: str, params: Mapping[str, Any], batch_rows: int
    ) -> Iterator[pd.DataFrame]:
        """Run one rendered query and yield frames of at most batch_rows rows."""

    @abstractmethod
    def _load_frame(self, df: pd.DataFrame, table: str) -> None:
        """Create TABLE (schema-qualified, validated) from DF, or append DF if it exists."""

    def reads_in_place(self, uri: str) -> bool:
        """Whether the warehouse reads URI itself (staged_file takes it without a download)."""
        return False

    @abstractmethod
    def staged_file(self, path: str, kind: str) -> AbstractContextManager[tuple[str, dict]]:
        """Expose a local CSV/Parquet file (or a URI it reads in place) as a relation.

        The relation has a SOURCE_ROW column.

        Yields (relation name, {column: 'datetime' | 'number' | 'text'}); CSV columns are text.
        """

    @abstractmethod
    def begin(self) -> None:
        """Start a transaction."""

    @abstractmethod
    def commit(self) -> None:
        """Commit the open transaction."""

    @abstractmethod
    def rollback(self) -> None:
        """Roll back the open transaction."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    @abstractmethod
    def describe(self) -> str:
        """Where the data lives, for humans."""

    # shared behaviour -------------------------------------------------------------------
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one Snowflake-dialect statement with named `:binds`."""
        text, names = render_sql(sql, self.dialect)
        if self.in_transaction and DDL.match(text):
            raise DDLInTransactionError(
                f"DDL inside a transaction would auto-commit on Snowflake: {first_line(text)}"
            )
        self._execute(text, _pick(names, params))

    def fetch_frame(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one Snowflake-dialect query; column names come back upper-case."""
        text, names = render_sql(sql, self.dialect)
        df = self._fetch(text, _pick(names, params))
        df.columns = [str(c).upper() for c in df.columns]
        return df

    def fetch_batches(
        self, sql: str, params: Mapping[str, Any] | None = None, batch_rows: int = 100_000
    ) -> Iterator[pd.DataFrame]:
        """Stream a query's rows as bounded frames (upper-case columns)."""
        text, names = render_sql(sql, self.dialect)
        for df in self._fetch_batches(text, _pick(names, params), batch_rows):
            df.columns = [str(c).upper() for c in df.columns]
            yield df

    def rising_range(self, sql: str) -> tuple[Any, Any] | None:
        """(first, last) value of a one-column query whose values rise strictly, else None.

        Engines where streaming the values to the client costs more than counting distinct
        values in the warehouse answer None (not known), and callers count instead.
        """
        return None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Return the first column of the first row (None when there is no row)."""
        df = self.fetch_frame(sql, params)
        return None if df.empty else df.iat[0, 0]

    def run_sql_file(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        """Run the statement in sql/NAME.sql."""
        self.execute(load_sql(name), params)

    def table_exists(self, table: str) -> bool:
        """Whether SCHEMA.TABLE exists."""
        schema, name = validate_identifier(table, 2).split(".")
        return bool(self.list_tables(schema, name, exact=True))

    def list_tables(self, schema: str, prefix: str = "", exact: bool = False) -> list[str]:
        """Tables in SCHEMA named PREFIX* (or exactly PREFIX), as upper-case SCHEMA.NAME."""
        schema = validate_identifier(schema, 1)
        names = self.fetch_frame(
            "SELECT UPPER(table_name) AS name FROM information_schema.tables "
            "WHERE UPPER(table_schema) = :s AND STARTSWITH(UPPER(table_name), :p)",
            {"s": schema, "p": prefix.upper()},
        )["NAME"]
        return [f"{schema}.{n}" for n in names if not exact or n == prefix.upper()]

    def columns_of(self, table: str) -> list[str]:
        """Column names of SCHEMA.TABLE in order (upper-case)."""
        return list(self.fetch_frame(f"SELECT * FROM {quote_identifier(table)} LIMIT 0").columns)

    def column_types(self, table: str) -> dict[str, str]:
        """{COLUMN: 'number' | 'datetime' | 'text'} of SCHEMA.TABLE, from information_schema."""
        schema, name = validate_identifier(table, 2).split(".")
        rows = self.fetch_frame(
            "SELECT UPPER(column_name) AS name, data_type FROM information_schema.columns "
            "WHERE UPPER(table_schema) = :s AND UPPER(table_name) = :t",
            {"s": schema, "t": name},
        )
        return {r.NAME: engine_type(r.DATA_TYPE) for r in rows.itertuples()}

    def row_count(self, table: str) -> int:
        """Rows in SCHEMA.TABLE (0 when it does not exist)."""
        if not self.table_exists(table):
            return 0
        return int(self.scalar(f"SELECT COUNT(*) FROM {quote_identifier(table)}"))

    @contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Commit on success, roll back on any error."""
        self.begin()
        self.in_transaction = True
        try:
            yield self
        except BaseException:
            self.in_transaction = False
            self.rollback()
            raise
        self.in_transaction = False
        self.commit()

    def bootstrap(self) -> None:
        """Create the schemas and tables of the contract if they are missing (idempotent)."""
        # Only missing schemas are created: CREATE SCHEMA IF NOT EXISTS needs the privilege
        # even when the schema exists, and a deployed role only has USAGE on Terraform's.
        present = set(
            self.fetch_frame("SELECT UPPER(schema_name) AS s FROM information_schema.schemata")["S"]
        )
        for schema in SCHEMAS:
            if schema.upper() not in present:
                self.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema, 1)}")
        for name in BOOTSTRAP_FILES:
            self.run_sql_file(name)

    def snowpark_session(self) -> Any:
        """A Snowpark session on this warehouse, for trainers that run inside it."""
        raise NotImplementedError(f"{type(self).__name__} has no Snowpark session")

    def staging_name(self, table: str) -> str:
        """A unique staging table name next to TABLE."""
        schema, name = validate_identifier(table, 2).split(".")
        return f"{schema}.STG_{name}_{uuid.uuid4().hex[:12].upper()}"

    def stage_select(
        self,
        table: str,
        select: str,
        params: Mapping[str, Any] | None = None,
        session_only: bool = False,
    ) -> str:
        """Create a fresh staging table beside TABLE from SELECT; return its name.

        SESSION_ONLY: only this session reads it, so an adapter may keep it out of storage.
        """
        staging = self.staging_name(table)
        self.execute(f"CREATE TABLE {quote_identifier(staging)} AS {select}", params)
        return staging

    def drop_table(self, table: str) -> None:
        """Drop TABLE if it exists."""
        self.execute(f"DROP TABLE IF EXISTS {quote_identifier(table)}")

    def write_frame(
        self,
        df: pd.DataFrame,
        table: str,
        mode: WriteMode = "append",
        keys: tuple[str, ...] = (),
    ) -> int:
        """Write DF into existing TABLE atomically; merge replaces rows with the same KEYS.

        The frame goes to a staging table first, then one transaction publishes it, so a
        failure leaves TABLE as it was.
        """
        if mode == "merge" and not keys:
            raise ValueError("merge needs keys")
        frame = df.rename(columns={c: validate_identifier(str(c), 1) for c in df.columns})
        staging = self.staging_name(table)
        self._load_frame(frame, staging)
        try:
            self.publish_staging(staging, table, list(frame.columns), mode, keys)
        finally:
            self.drop_table(staging)
        return len(frame)

    def load_staging(self, df: pd.DataFrame, staging: str) -> None:
        """Create or append to a staging table (upper-case validated column names)."""
        frame = df.rename(columns={c: validate_identifier(str(c), 1) for c in df.columns})
        self._load_frame(frame, staging)

    def publish_staging(
        self,
        staging: str,
        table: str,
        columns: list[str],
        mode: WriteMode,
        keys: tuple[str, ...] = (),
    ) -> None:
        """Move the rows of STAGING into TABLE in one transaction (append/overwrite/merge)."""
        target, source = quote_identifier(table), quote_identifier(staging)
        cols = [quote_identifier(c, 1) for c in columns]
        col_list = ", ".join(cols)
        if mode == "merge":
            self.check_unique(staging, keys)
            key_cols = [quote_identifier(k, 1) for k in keys]
            on = " AND ".join(f"t.{k} = s.{k}" for k in key_cols)
            updates = ", ".join(f"{c} = s.{c}" for c in cols if c not in key_cols)
            values = ", ".join(f"s.{c}" for c in cols)
            statement = (
                f"MERGE INTO {target} AS t USING {source} AS s ON {on} "
                + (f"WHEN MATCHED THEN UPDATE SET {updates} " if updates else "")
                + f"WHEN NOT MATCHED THEN INSERT ({col_list}) VALUES ({values})"
            )
            self.execute(statement)  # one statement: atomic on its own
            return
        with self.transaction():
            if mode == "overwrite":
                self.execute(f"DELETE FROM {target}")
            self.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {source}")

    def check_unique(self, table: str, keys: tuple[str, ...]) -> None:
        """Raise DuplicateKeyError naming sample keys if TABLE repeats a KEYS combination."""
        key_list = ", ".join(quote_identifier(k, 1) for k in keys)
        dupes = self.fetch_frame(
            f"SELECT {key_list}, COUNT(*) OVER () AS N_KEYS FROM {quote_identifier(table)} "
            f"GROUP BY {key_list} HAVING COUNT(*) > 1 LIMIT 5"
        )
        if not dupes.empty:
            sample = dupes.drop(columns="N_KEYS").to_dict("records")
            raise DuplicateKeyError(
                f"{int(dupes['N_KEYS'].iat[0])} duplicate keys {keys} in batch for {table}; "
                f"nothing was written. Sample: {sample}"
            )

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pick(names: tuple[str, ...], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Select the binds a statement uses; a missing one is a programming error."""
    params = params or {}
    missing = [n for n in names if n not in params]
    if missing:
        raise KeyError(f"missing bind parameters: {missing}")
    return {n: params[n] for n in names}
