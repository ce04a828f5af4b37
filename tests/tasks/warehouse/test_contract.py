"""The same warehouse operations over DuckDB and over the Snowflake adapter on fakesnow."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tasks.warehouse.base import DuplicateKeyError
from tasks.warehouse.duckdb import DuckDBWarehouse
from tasks.warehouse.snowflake import SnowflakeWarehouse


@pytest.fixture(params=["duckdb", "snowflake"])
def warehouse(request, tmp_path):
    """Each contract test runs once per adapter."""
    if request.param == "duckdb":
        wh = DuckDBWarehouse(tmp_path / "w.duckdb")
        wh.bootstrap()
        yield wh
        wh.close()
        return
    import fakesnow
    import snowflake.connector

    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        wh = SnowflakeWarehouse(snowflake.connector.connect(), "LIFELINE")
        wh.bootstrap()
        yield wh


def scores(values: list[float], day: dt.date = dt.date(2025, 1, 1)) -> pd.DataFrame:
    """A small scores frame keyed by customer and date."""
    return pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(len(values))],
            "as_of_date": [day] * len(values),
            "churn_probability": values,
        }
    )


def test_bootstrap_is_idempotent_and_creates_contract_tables(warehouse):
    warehouse.bootstrap()
    for table in (
        "RAW.TRANSACTIONS",
        "RAW.CUSTOMERS",
        "RAW.LOAD_MANIFEST",
        "FEATURES.LABELS",
        "ML.CUSTOMER_SCORES",
        "OPS.QUALITY_RESULTS",
        "OPS.PIPELINE_RUNS",
    ):
        assert warehouse.table_exists(table), table
    assert not warehouse.table_exists("RAW.NOPE")


def test_merge_replaces_rows_with_same_keys(warehouse):
    keys = ("CUSTOMER_ID", "AS_OF_DATE")
    warehouse.write_frame(scores([0.1, 0.2]), "ML.CUSTOMER_SCORES", "merge", keys)
    warehouse.write_frame(scores([0.5, 0.6, 0.7]), "ML.CUSTOMER_SCORES", "merge", keys)
    got = warehouse.fetch_frame(
        "SELECT customer_id, churn_probability FROM ml.customer_scores ORDER BY customer_id"
    )
    assert got["CHURN_PROBABILITY"].tolist() == [0.5, 0.6, 0.7]
    assert warehouse.list_tables("ML", "STG_") == []


@pytest.mark.scenario(5)
def test_merge_with_duplicate_keys_writes_nothing(warehouse):
    keys = ("CUSTOMER_ID", "AS_OF_DATE")
    warehouse.write_frame(scores([0.1]), "ML.CUSTOMER_SCORES", "merge", keys)
    with pytest.raises(DuplicateKeyError, match="duplicate keys"):
        warehouse.write_frame(
            pd.concat([scores([0.9]), scores([0.8])]), "ML.CUSTOMER_SCORES", "merge", keys
        )
    assert warehouse.fetch_frame("SELECT churn_probability FROM ml.customer_scores")[
        "CHURN_PROBABILITY"
    ].tolist() == [0.1]


def test_append_and_overwrite(warehouse):
    warehouse.write_frame(scores([0.1, 0.2]), "ML.CUSTOMER_SCORES", "append")
    warehouse.write_frame(scores([0.3]), "ML.CUSTOMER_SCORES", "append")
    assert warehouse.row_count("ML.CUSTOMER_SCORES") == 3
    warehouse.write_frame(scores([0.4]), "ML.CUSTOMER_SCORES", "overwrite")
    assert warehouse.row_count("ML.CUSTOMER_SCORES") == 1


def test_binds_and_batches(warehouse):
    warehouse.write_frame(scores([0.1, 0.2, 0.3]), "ML.CUSTOMER_SCORES", "append")
    n = warehouse.scalar(
        "SELECT COUNT(*) FROM ml.customer_scores WHERE churn_probability > :p "
        "AND customer_id LIKE 'C%'",
        {"p": 0.15},
    )
    assert n == 2
    batches = list(warehouse.fetch_batches("SELECT * FROM ml.customer_scores", batch_rows=2))
    assert sum(len(b) for b in batches) == 3
    assert all(len(b) <= 2 for b in batches)


def test_run_sql_file_with_binds(warehouse):
    warehouse.execute(
        "INSERT INTO raw.transactions (transaction_id, customer_id, txn_ts, amount) "
        "VALUES ('T1', 'C1', '2025-01-01 10:00:00', 10.5), "
        "('T2', 'C1', '2025-02-01 10:00:00', 20)"
    )
    warehouse.run_sql_file(
        "features/10_build_customer_periods", {"as_of": dt.date(2025, 1, 15), "grid_days": 30}
    )
    periods = warehouse.fetch_frame("SELECT * FROM features.customer_periods")
    assert periods["SPEND"].astype(float).tolist() == [10.5]
    assert str(periods["PERIOD_END"].iloc[0])[:10] == "2025-01-15"


def test_missing_bind_is_an_error(warehouse):
    with pytest.raises(KeyError, match="missing bind"):
        warehouse.scalar("SELECT :x")


@pytest.mark.scenario(3)
def test_transaction_rolls_back_on_error(tmp_path):
    # fakesnow cannot stand in here (docs/reliability.md, finding 1): DuckDB holds the assertion.
    wh = DuckDBWarehouse(tmp_path / "t.duckdb")
    wh.bootstrap()
    with pytest.raises(RuntimeError), wh.transaction():
        wh.execute(
            "INSERT INTO ml.customer_scores (customer_id, as_of_date) VALUES ('C1', '2025-01-01')"
        )
        raise RuntimeError("boom")
    assert wh.row_count("ML.CUSTOMER_SCORES") == 0


def test_a_session_only_staging_table_is_counted_and_dropped(warehouse):
    select = "SELECT 1 AS x UNION ALL SELECT 2 AS x"
    staging = warehouse.stage_select("FEATURES.CUSTOMER_FEATURES", select, session_only=True)
    assert warehouse.table_exists(staging) and warehouse.row_count(staging) == 2
    warehouse.drop_table(staging)
    assert not warehouse.table_exists(staging) and warehouse.row_count(staging) == 0
