"""Live twins: the checks fakesnow and DuckDB cannot make faithfully, against real Snowflake.

Run with `pytest -m live` and a connection in the environment (LIFELINE_SNOWFLAKE_ACCOUNT +
_USER + _PRIVATE_KEY_PATH, or _CONNECTION_NAME, or _CONNECTOR_BLOCK). They use the database
LIFELINE_IT (override with LIFELINE_IT_DATABASE) and drop what they create.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid

import pandas as pd
import pytest

from tasks.warehouse import DDLInTransactionError, DuplicateKeyError, open_warehouse

pytestmark = pytest.mark.live


@pytest.fixture
def snowflake():
    """The Snowflake adapter on the integration database, or skip without an account."""
    from tasks.settings import load_settings

    if not any(
        os.environ.get(f"LIFELINE_SNOWFLAKE_{k}")
        for k in ("ACCOUNT", "CONNECTION_NAME", "CONNECTOR_BLOCK")
    ):
        pytest.skip("no Snowflake account configured")
    settings = load_settings(
        target="snowflake", snowflake_database=os.environ.get("LIFELINE_IT_DATABASE", "LIFELINE_IT")
    )
    wh = open_warehouse(settings)
    yield wh
    wh.close()


def scratch(wh, columns: str) -> str:
    """A fresh ML.IT_* table with COLUMNS; dropped by the caller."""
    table = f"ML.IT_{uuid.uuid4().hex[:10].upper()}"
    wh.execute(f"CREATE TABLE {table} ({columns})")
    return table


@pytest.mark.snowflake_integration("ddl-autocommit")
def test_ddl_commits_an_open_transaction_and_our_guard_refuses_it(snowflake):
    table = scratch(snowflake, "x INT")
    try:
        cur = snowflake.conn.cursor()
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {table} VALUES (1)")
        cur.execute(f"CREATE TABLE {table}_2 (y INT)")  # commits the INSERT on Snowflake
        cur.execute("ROLLBACK")
        assert snowflake.row_count(table) == 1
        with pytest.raises(DDLInTransactionError), snowflake.transaction():
            snowflake.execute(f"DELETE FROM {table}")
            snowflake.execute(f"CREATE TABLE {table}_3 (z INT)")
        assert snowflake.row_count(table) == 1
    finally:
        for name in (table, f"{table}_2", f"{table}_3"):
            snowflake.drop_table(name)


@pytest.mark.snowflake_integration("merge-duplicates")
def test_merge_with_duplicate_source_keys_errors_and_we_stop_first(snowflake):
    frame = pd.DataFrame({"CUSTOMER_ID": ["A", "A"], "AS_OF_DATE": [dt.date(2025, 1, 1)] * 2})
    frame["CHURN_PROBABILITY"] = [0.1, 0.2]
    with pytest.raises(DuplicateKeyError, match="2 duplicate keys|1 duplicate keys"):
        snowflake.write_frame(frame, "ML.CUSTOMER_SCORES", "merge", ("CUSTOMER_ID", "AS_OF_DATE"))
    source = scratch(snowflake, "customer_id VARCHAR, as_of_date DATE, churn_probability FLOAT")
    try:
        snowflake.load_staging(frame, source)
        with pytest.raises(Exception, match="Duplicate row detected"):  # noqa: PT011
            snowflake.execute(
                f"MERGE INTO ml.customer_scores t USING {source} s "
                "ON t.customer_id = s.customer_id AND t.as_of_date = s.as_of_date "
                "WHEN MATCHED THEN UPDATE SET churn_probability = s.churn_probability "
                "WHEN NOT MATCHED THEN INSERT (customer_id, as_of_date) "
                "VALUES (s.customer_id, s.as_of_date)"
            )
    finally:
        snowflake.drop_table(source)


@pytest.mark.snowflake_integration("timestamps")
def test_timestamps_round_trip_through_write_pandas(snowflake):
    stamps = pd.to_datetime(["2025-03-30 00:59:59.123456", "2025-10-26 01:30:00", "1999-12-31"])
    frame = pd.DataFrame({"CUSTOMER_ID": ["A", "B", "C"], "SCORED_AT": stamps})
    table = f"ML.IT_{uuid.uuid4().hex[:10].upper()}"
    try:
        snowflake.load_staging(frame, table)
        back = snowflake.fetch_frame(f"SELECT * FROM {table} ORDER BY customer_id")
        assert list(pd.to_datetime(back["SCORED_AT"])) == list(stamps)
    finally:
        snowflake.drop_table(table)


@pytest.mark.snowflake_integration("identifier-case")
def test_lower_case_frames_make_upper_case_unquoted_objects(snowflake):
    table = f"ml.it_lower_{uuid.uuid4().hex[:8]}"
    try:
        snowflake.load_staging(pd.DataFrame({"customer_id": ["a"]}), table)
        assert snowflake.fetch_frame(f"SELECT customer_id FROM {table}")["CUSTOMER_ID"][0] == "a"
        assert snowflake.table_exists(table.upper())
    finally:
        snowflake.drop_table(table)


@pytest.mark.snowflake_integration("swap")
def test_swap_exchanges_two_tables_atomically(snowflake):
    left, right = scratch(snowflake, "x INT"), scratch(snowflake, "x INT")
    try:
        snowflake.execute(f"INSERT INTO {left} VALUES (1)")
        snowflake.execute(f"ALTER TABLE {left} SWAP WITH {right}")
        assert (snowflake.row_count(left), snowflake.row_count(right)) == (0, 1)
    finally:
        snowflake.drop_table(left)
        snowflake.drop_table(right)


@pytest.mark.snowflake_integration("time-travel")
def test_a_bad_publish_can_be_restored_with_time_travel(snowflake):
    table = scratch(snowflake, "x INT")
    try:
        snowflake.execute(f"INSERT INTO {table} VALUES (1), (2)")
        before = snowflake.scalar("SELECT CURRENT_TIMESTAMP()")
        snowflake.execute(f"DELETE FROM {table}")
        restored = snowflake.scalar(
            f"SELECT COUNT(*) FROM {table} AT(TIMESTAMP => :t::TIMESTAMP_LTZ)", {"t": before}
        )
        assert restored == 2
    finally:
        snowflake.drop_table(table)


@pytest.mark.snowflake_integration("put-copy")
def test_ingest_through_an_internal_stage(snowflake, tmp_path):
    from tasks.ingest import ingest_transaction_file, parse_mapping

    path = tmp_path / f"it_{uuid.uuid4().hex[:8]}.csv"
    path.write_text("cust,date,value\nIT_A,19970101,12.50\nIT_B,19970102,7\n")
    mapping = parse_mapping({"customer_id": "cust", "txn_ts": "date", "amount": "value"})
    try:
        inserted, present = ingest_transaction_file(snowflake, str(path), mapping, "it-run")
        assert (inserted, present) == (2, 0)
        assert ingest_transaction_file(snowflake, str(path), mapping, "it-run") is None
    finally:
        snowflake.execute("DELETE FROM raw.transactions WHERE flow_run_id = 'it-run'")
        snowflake.execute("DELETE FROM raw.load_manifest WHERE flow_run_id = 'it-run'")
