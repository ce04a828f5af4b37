"""rising_range: strictly rising ids prove themselves unique and give their range."""

import pyarrow as pa
import pytest

from tasks.warehouse import duckdb as duck
from tasks.warehouse.duckdb import DuckDBWarehouse, strictly_rising


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([["a", "b"], ["c"]], ("a", "c")),
        ([["a"], [], ["b"]], ("a", "b")),
        ([["a", "b"], ["b", "c"]], None),  # equal across a chunk boundary
        ([["a", "a"]], None),
        ([["b", "a"]], None),
        ([["a", None]], None),
        ([["é", "z"]], None),  # byte order, as the warehouse compares
        ([], None),
    ],
)
def test_strictly_rising(chunks, expected):
    assert strictly_rising(pa.array(c, pa.string()) for c in chunks) == expected


def test_an_open_transactions_rows_are_streamed_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(duck, "RISING_BATCH_ROWS", 3)
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    wh.execute("CREATE TABLE t (id VARCHAR)")
    with wh.transaction():
        wh.execute(
            "INSERT INTO t SELECT 'T' || LPAD(CAST(range AS VARCHAR), 4, '0') FROM range(10)"
        )
        assert wh.rising_range("SELECT id FROM t") == ("T0000", "T0009")
        wh.execute("INSERT INTO t VALUES ('T0005')")
        assert wh.rising_range("SELECT id FROM t") is None
    wh.close()
