"""Table snapshots as docs/reliability.md defines them: (rows, hash of key+payload, max batch)."""

from __future__ import annotations

from pathlib import Path

import duckdb

# table -> batch column; run ids and timestamps are left out of the payload because two
# correct runs of the same step differ in them and nothing else.
TABLES = {
    "RAW.TRANSACTIONS": "LOAD_ID",
    "RAW.CUSTOMERS": "LOAD_ID",
    "RAW.LOAD_MANIFEST": "LOAD_ID",
    "FEATURES.CUSTOMER_FEATURES": "AS_OF_DATE",
    "FEATURES.LABELS": "AS_OF_DATE",
    "ML.CUSTOMER_SCORES": "AS_OF_DATE",
}
VOLATILE = {"FLOW_RUN_ID", "LOADED_AT", "SCORED_AT", "CREATED_AT"}

Snapshot = tuple[int, int | None, object]


def snapshot_table(con: duckdb.DuckDBPyConnection, table: str) -> Snapshot:
    """(row count, sum of row hashes, max batch id) of one table; a missing table is empty."""
    schema, name = table.split(".")
    exists = con.execute(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchone()[0]
    if not exists:
        return 0, None, None
    cols = [
        r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0].upper() not in VOLATILE
    ]
    row_hash = f"HASH({', '.join(cols)})"
    count, total, batch = con.execute(
        f"SELECT COUNT(*), SUM({row_hash}), MAX({TABLES[table]}) FROM {table}"
    ).fetchone()
    return count, int(total) if total is not None else None, batch


def snapshot(path: Path) -> dict[str, Snapshot]:
    """Snapshots of every target table in the DuckDB file at PATH."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {table: snapshot_table(con, table) for table in TABLES}
    finally:
        con.close()
