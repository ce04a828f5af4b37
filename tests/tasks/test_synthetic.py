"""The synthetic portfolio: realistic shares, deterministic, and no churn column."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq

from tasks.synthetic import generate_portfolio


def shares(sql: str) -> dict[str, float]:
    """Category -> share from a GROUP BY query."""
    return {k: v for k, v in duckdb.sql(sql).fetchall()}


def test_shares_are_in_the_documented_ranges(tmp_path):
    generate_portfolio(tmp_path, customers=4000, transactions=200_000, seed=3)
    cust, txn = f"'{tmp_path}/customers/*.parquet'", f"'{tmp_path}/transactions/*.parquet'"
    seg = shares(f"SELECT segment, COUNT(*) / SUM(COUNT(*)) OVER () FROM {cust} GROUP BY 1")
    assert 0.10 <= seg["High-Value Travelers"] <= 0.15
    assert 0.40 <= seg["Stable Mid-Spenders"] <= 0.50
    assert 0.20 <= seg["Budget-Conscious"] <= 0.25
    assert 0.10 <= seg["New & Growing"] <= 0.15
    assert 0.05 <= seg["Declining"] <= 0.10
    channel = shares(f"SELECT channel, COUNT(*) / SUM(COUNT(*)) OVER () FROM {txn} GROUP BY 1")
    assert abs(channel["Online"] - 0.4) < 0.02 and abs(channel["Mobile"] - 0.2) < 0.02
    status = shares(f"SELECT status, COUNT(*) / SUM(COUNT(*)) OVER () FROM {txn} GROUP BY 1")
    assert 0.97 <= status["approved"] <= 0.99


def test_segment_drives_spend_mix(tmp_path):
    generate_portfolio(tmp_path, customers=3000, transactions=300_000, seed=5)
    rows = duckdb.sql(f"""
        WITH t AS (
            SELECT c.segment, t.customer_id, date_trunc('month', t.txn_ts) AS m, t.amount,
                   t.category IN ('Airlines','Hotels','Car Rental','Travel Agencies') AS travel,
                   t.category IN ('Grocery','Gas','Utilities','Healthcare','Pharmacy',
                                  'Insurance','Telecom') AS need
            FROM '{tmp_path}/transactions/*.parquet' t
            JOIN '{tmp_path}/customers/*.parquet' c USING (customer_id)
            WHERE t.status = 'approved')
        SELECT segment, median(s), sum(tr) / sum(s), sum(ne) / sum(s) FROM (
            SELECT segment, customer_id, m, sum(amount) s,
                   sum(amount) FILTER (WHERE travel) tr, sum(amount) FILTER (WHERE need) ne
            FROM t GROUP BY ALL) GROUP BY 1""").fetchall()
    by = {r[0]: r[1:] for r in rows}
    assert by["High-Value Travelers"][0] >= 5000 and by["High-Value Travelers"][1] >= 0.25
    assert by["Budget-Conscious"][0] < 1500 and by["Budget-Conscious"][2] >= 0.60


def test_deterministic_and_no_churn_column(tmp_path):
    a = generate_portfolio(tmp_path / "a", customers=300, transactions=20_000, seed=9)
    b = generate_portfolio(tmp_path / "b", customers=300, transactions=20_000, seed=9)
    ta, tb = pq.read_table(a.transaction_files[0]), pq.read_table(b.transaction_files[0])
    assert ta.equals(tb)
    columns = {c.lower() for c in ta.column_names} | {
        c.lower() for c in pq.read_table(a.customer_files[0]).column_names
    }
    assert not any("churn" in c for c in columns)
    assert 0.9 * 20_000 <= a.transactions <= 1.1 * 20_000


def test_parts_drawn_in_parallel_are_the_files_drawn_one_by_one(tmp_path, monkeypatch):
    import tasks.synthetic as synthetic

    monkeypatch.setattr(synthetic, "CHUNK_ROWS", 5_000)  # several parts from a small portfolio
    one = generate_portfolio(tmp_path / "one", customers=200, transactions=20_000, workers=1)
    two = generate_portfolio(tmp_path / "two", customers=200, transactions=20_000, workers=2)
    assert len(one.transaction_files) == len(two.transaction_files) >= 4
    assert one.transactions == two.transactions
    for a, b in zip(one.transaction_files, two.transaction_files, strict=True):
        assert pq.read_table(a).equals(pq.read_table(b))
    ids = duckdb.sql(f"SELECT transaction_id AS id FROM '{tmp_path}/two/transactions/*.parquet'")
    assert len(set(ids.fetchnumpy()["id"])) == two.transactions  # unique across parts
