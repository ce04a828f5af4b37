"""Snowflake adapter: the production warehouse, over the Snowflake Python connector.

The connection comes from a Snowpark `Session` (`session.connection`), a prefect-snowflake
`SnowflakeConnector` block, a `connections.toml` entry or key-pair settings. Heavy work is
SQL that runs in Snowflake; only small results and bounded batches come back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pandas as pd

from tasks.errors import ConfigurationError
from tasks.identifiers import quote_identifier, validate_column_name, validate_identifier
from tasks.warehouse.base import FileReadError, Warehouse, engine_type
from tasks.warehouse.delimited import DELIMITER_LITERALS, header_fields, open_bytes

if TYPE_CHECKING:
    from tasks.settings import LifelineSettings


class SnowflakeWarehouse(Warehouse):
    """Runs the Snowflake SQL as written, with pyformat binds."""

    dialect = "snowflake"

    def __init__(
        self,
        connection: Any,
        database: str | None = None,
        landing: tuple[str, str] | None = None,
    ) -> None:
        self.conn = connection
        # (stage, s3:// URL it points at): files under the URL are copied from the stage.
        self.landing = landing
        self.database = validate_identifier(database, 1) if database else None
        if self.database:
            self.use_database(quote_identifier(self.database, 1))

    def use_database(self, name: str) -> None:
        """USE the database, creating it only when it is missing.

        `CREATE ... IF NOT EXISTS` needs the CREATE privilege even when the object exists; the
        deployed role has USAGE only (Terraform creates the database), so it is tried last.
        """
        import snowflake.connector.errors as sf_errors

        cur = self.conn.cursor()
        try:
            cur.execute(f"USE DATABASE {name}")
        except sf_errors.ProgrammingError:  # missing, or not visible to this role
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {name}")
            cur.execute(f"USE DATABASE {name}")

    @classmethod
    def from_session(cls, session: Any, database: str | None = None) -> SnowflakeWarehouse:
        """Build the adapter over a Snowpark Session's connector connection."""
        return cls(session.connection, database)

    def snowpark_session(self) -> Any:
        """A Snowpark session over this adapter's own connection (same role and database)."""
        from snowflake.snowpark import Session

        return Session.builder.configs({"connection": self.conn}).create()

    def _execute(self, text: str, params: Mapping[str, Any]) -> None:
        self.conn.cursor().execute(text, dict(params) if params else None)

    def _fetch(self, text: str, params: Mapping[str, Any]) -> pd.DataFrame:
        cur = self.conn.cursor()
        cur.execute(text, dict(params) if params else None)
        rows = cur.fetchall()
        return pd.DataFrame(rows, columns=[d[0] for d in cur.description])

    def _fetch_batches(
        self, text: str, params: Mapping[str, Any], batch_rows: int
    ) -> Iterator[pd.DataFrame]:
        cur = self.conn.cursor()
        cur.execute(text, dict(params) if params else None)
        columns = [d[0] for d in cur.description]
        while rows := cur.fetchmany(batch_rows):
            yield pd.DataFrame(rows, columns=columns)

    def _load_frame(self, df: pd.DataFrame, table: str) -> None:
        # Imported by module path so that fakesnow's patch (and tests) see the same object.
        import snowflake.connector.pandas_tools as pandas_tools

        schema, name = validate_identifier(table, 2).split(".")
        ok, _, _, _ = pandas_tools.write_pandas(
            self.conn,
            df,
            name,
            schema=schema,
            database=self.database,
            auto_create_table=True,
            quote_identifiers=False,  # names are validated upper-case: no quoted lowercase objects
            use_logical_type=True,
        )
        if not ok:
            raise RuntimeError(f"write_pandas failed for {table}")

    def reads_in_place(self, uri: str) -> bool:
        """Files under the external landing stage's URL load from S3 by COPY INTO."""
        if self.landing is None or not uri.startswith(self.landing[1]):
            return False
        # Keys that would need quoting in a stage path take the PUT path instead.
        return SAFE_KEY.fullmatch(uri[len(self.landing[1]) :]) is not None

    @contextmanager
    def staged_file(self, path: str, kind: str) -> Iterator[tuple[str, dict]]:
        """COPY INTO a temporary table: from the landing stage, or PUT on an internal one."""
        if self.reads_in_place(path):
            stage, url = self.landing  # type: ignore[misc]
            location = f"@{stage}/{path[len(url) :]}"
            names, delimiter = read_s3_header(path) if kind == "csv" else ([], ",")
            yield from _copied_file(self, location, kind, names, delimiter)
        else:
            yield from _put_file(self, path, kind)

    def begin(self) -> None:
        self.conn.cursor().execute("BEGIN")

    def commit(self) -> None:
        self.conn.cursor().execute("COMMIT")

    def rollback(self) -> None:
        self.conn.cursor().execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    def describe(self) -> str:
        return f"Snowflake database {self.database or '(connection default)'}"


def check_credentials(settings: LifelineSettings) -> None:
    """Raise ConfigurationError unless some way to connect is configured."""
    if settings.snowflake_connector_block or settings.snowflake_connection_name:
        return
    if not (settings.snowflake_account and settings.snowflake_user):
        raise ConfigurationError(
            "LIFELINE_TARGET=snowflake needs LIFELINE_SNOWFLAKE_CONNECTOR_BLOCK, "
            "LIFELINE_SNOWFLAKE_CONNECTION_NAME, or LIFELINE_SNOWFLAKE_ACCOUNT + _USER + "
            "_PRIVATE_KEY_PATH"
        )


def check_block_database(database: str, settings: LifelineSettings) -> None:
    """The block must connect to the database the run locks and writes (one name for both)."""
    if database.upper() != settings.snowflake_database.upper():
        raise ConfigurationError(
            f"block {settings.snowflake_connector_block} connects to database {database} but "
            f"LIFELINE_SNOWFLAKE_DATABASE is {settings.snowflake_database}: set "
            f"LIFELINE_SNOWFLAKE_DATABASE={database.upper()} (the publish lock is per database)"
        )


def connect_snowflake(settings: LifelineSettings) -> Any:
    """Open a connector connection from the configured block, connections.toml or key pair."""
    import snowflake.connector

    timeouts = {
        "network_timeout": settings.snowflake_network_timeout_s,
        "session_parameters": {
            "STATEMENT_TIMEOUT_IN_SECONDS": settings.snowflake_statement_timeout_s,
            "QUERY_TAG": "lifeline",
        },
    }
    if settings.snowflake_connector_block:
        from prefect_snowflake import SnowflakeConnector

        try:
            block = SnowflakeConnector.load(settings.snowflake_connector_block)
        except ValueError as exc:  # Prefect's "Unable to find block document named ..."
            raise ConfigurationError(
                f"SnowflakeConnector block {settings.snowflake_connector_block} is not on the "
                "Prefect API this run uses: create it with `lifeline blocks --env <env>`"
            ) from exc
        check_block_database(block.database, settings)
        return block.get_connection(**timeouts)  # the block's own params know no deadlines
    if settings.snowflake_connection_name:
        return snowflake.connector.connect(
            connection_name=settings.snowflake_connection_name, **timeouts
        )
    check_credentials(settings)
    passphrase = settings.snowflake_private_key_passphrase
    return snowflake.connector.connect(
        account=settings.snowflake_account,
        user=settings.snowflake_user,
        authenticator="SNOWFLAKE_JWT",
        private_key_file=str(settings.snowflake_private_key_path),
        private_key_file_pwd=passphrase.get_secret_value() if passphrase else None,
        role=settings.snowflake_role,
        warehouse=settings.snowflake_warehouse,
        **timeouts,
    )


INGEST_STAGE = "RAW.LIFELINE_INGEST"
SAFE_KEY = re.compile(r"[A-Za-z0-9_\-./=]+")


def _put_file(wh: SnowflakeWarehouse, path: str, kind: str) -> Iterator[tuple[str, dict]]:
    """PUT a local file on a temporary internal stage, then copy it from there."""
    import uuid

    cur = wh.conn.cursor()
    location = f"@{INGEST_STAGE}/{uuid.uuid4().hex}/"
    literal = str(path).replace("'", "\\'")
    cur.execute(f"CREATE TEMPORARY STAGE IF NOT EXISTS {INGEST_STAGE}")
    cur.execute(f"PUT 'file://{literal}' {location} AUTO_COMPRESS=TRUE OVERWRITE=TRUE")
    names: list[str] = []
    delimiter = ","
    if kind == "csv":
        with open_bytes(path) as fh:
            names, delimiter = header_fields(fh.read(64 * 1024))
    try:
        yield from _copied_file(wh, location, kind, names, delimiter)
    finally:
        cur.execute(f"REMOVE {location}")


def read_s3_header(uri: str) -> tuple[list[str], str]:
    """A CSV object's header names and delimiter, from its first bytes only (rows stay in S3)."""
    from tasks.s3 import read_s3_head

    return header_fields(read_s3_head(uri))


def copy_file(
    cur: Any, table: str, location: str, kind: str, header: list[str], delimiter: str = ","
) -> None:
    """Create TABLE and COPY the staged file into it, aborting on the first bad row."""
    if kind == "csv":
        names = [validate_column_name(h.strip()).upper() for h in header]
        cols = ", ".join(f'"{n}" VARCHAR' for n in names)
        picks = ", ".join(f"${i + 1}" for i in range(len(names)))
        cur.execute(f"CREATE TEMPORARY TABLE {table} ({cols}, SOURCE_ROW NUMBER)")
        # ERROR_ON_COLUMN_COUNT_MISMATCH is TRUE by default: a ragged row aborts the copy.
        cur.execute(
            f"COPY INTO {table} FROM (SELECT {picks}, METADATA$FILE_ROW_NUMBER "
            f"FROM {location}) FILE_FORMAT = (TYPE = CSV "
            f"FIELD_DELIMITER = '{DELIMITER_LITERALS[delimiter]}' SKIP_HEADER = 1 "
            "FIELD_OPTIONALLY_ENCLOSED_BY = '\"') ON_ERROR = ABORT_STATEMENT"
        )
    else:
        cur.execute(
            "CREATE TEMPORARY FILE FORMAT IF NOT EXISTS RAW.LIFELINE_PARQUET TYPE = PARQUET"
        )
        cur.execute(
            f"CREATE TEMPORARY TABLE {table} USING TEMPLATE (SELECT ARRAY_AGG("
            f"OBJECT_CONSTRUCT(*)) FROM TABLE(INFER_SCHEMA(LOCATION => '{location}', "
            "FILE_FORMAT => 'RAW.LIFELINE_PARQUET')))"
        )
        cur.execute(f"ALTER TABLE {table} ADD COLUMN SOURCE_ROW NUMBER")
        cur.execute(
            f"COPY INTO {table} FROM {location} FILE_FORMAT = (FORMAT_NAME = "
            "'RAW.LIFELINE_PARQUET') MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE "
            "INCLUDE_METADATA = (SOURCE_ROW = METADATA$FILE_ROW_NUMBER) "
            "ON_ERROR = ABORT_STATEMENT"
        )


def _copied_file(
    wh: SnowflakeWarehouse, location: str, kind: str, header: list[str], delimiter: str
) -> Iterator[tuple[str, dict]]:
    """COPY the staged file at LOCATION into a temporary table with a SOURCE_ROW column."""
    import snowflake.connector.errors as sf_errors

    cur = wh.conn.cursor()
    table = wh.staging_name("RAW.INGEST")
    try:
        try:
            copy_file(cur, table, location, kind, header, delimiter)
        except sf_errors.ProgrammingError as exc:  # a file Snowflake cannot parse is rejected
            message = str(exc.msg or exc).strip().splitlines()[0]
            raise FileReadError(f"{location}: cannot read as {kind}: {message}") from None
        schema, name = table.split(".")
        described = wh.fetch_frame(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = :s AND table_name = :t ORDER BY ordinal_position",
            {"s": schema, "t": name},
        )
        dtypes = {
            r.COLUMN_NAME: engine_type(r.DATA_TYPE)
            for r in described.itertuples()
            if r.COLUMN_NAME.upper() != "SOURCE_ROW"
        }
        yield table, dtypes
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {table}")
