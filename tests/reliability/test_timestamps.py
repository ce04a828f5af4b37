"""Timestamps: zoned input is converted to UTC, naive input is UTC by policy, round trips hold."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.tasks.test_ingest import load, write
from tests.tasks.warehouse.test_contract import warehouse  # noqa: F401 (fixture)

pytestmark = pytest.mark.scenario(11)

# Both DST edges of 2025 in Europe/Berlin and America/New_York, as offsets and as Z.
ROWS = [
    ("A", "2025-03-30T01:59:59+01:00", dt.datetime(2025, 3, 30, 0, 59, 59)),
    ("B", "2025-03-30T03:00:00+02:00", dt.datetime(2025, 3, 30, 1, 0, 0)),
    ("C", "2025-10-26T02:30:00+02:00", dt.datetime(2025, 10, 26, 0, 30)),
    ("D", "2025-10-26T02:30:00+01:00", dt.datetime(2025, 10, 26, 1, 30)),
    ("E", "2025-11-02T01:30:00-04:00", dt.datetime(2025, 11, 2, 5, 30)),
    ("F", "2025-11-02T01:30:00-05:00", dt.datetime(2025, 11, 2, 6, 30)),
    ("G", "2025-03-09T07:00:00Z", dt.datetime(2025, 3, 9, 7, 0)),
    ("H", "2025-03-09 02:30:00", dt.datetime(2025, 3, 9, 2, 30)),  # naive: UTC by policy
]


def loaded(wh) -> dict[str, dt.datetime]:
    """customer -> stored TXN_TS."""
    frame = wh.fetch_frame("SELECT customer_id, txn_ts FROM raw.transactions")
    return dict(zip(frame["CUSTOMER_ID"], frame["TXN_TS"].dt.to_pydatetime(), strict=True))


def test_offsets_in_text_are_converted_to_utc_across_dst_edges(wh, tmp_path):
    text = "cust,date,value\n" + "".join(f"{c},{ts},1\n" for c, ts, _ in ROWS)
    load(wh, write(tmp_path, "zoned.csv", text))
    assert loaded(wh) == {c: want for c, _, want in ROWS}


def test_zoned_parquet_timestamps_are_stored_in_utc(wh, tmp_path):
    local = pd.to_datetime(["2025-03-30 03:30", "2025-10-26 01:30"]).tz_localize(
        "Europe/Berlin", ambiguous=[True, True]
    )
    path = tmp_path / "zoned.parquet"
    pd.DataFrame({"cust": ["P", "Q"], "date": local, "value": [1.0, 2.0]}).to_parquet(path)
    load(wh, str(path))
    assert loaded(wh) == {
        "P": dt.datetime(2025, 3, 30, 1, 30),
        "Q": dt.datetime(2025, 10, 25, 23, 30),
    }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
        min_size=1,
        max_size=20,
    )
)
def test_naive_utc_timestamps_round_trip_on_both_adapters(warehouse, stamps):  # noqa: F811
    frame = pd.DataFrame(
        {
            "CUSTOMER_ID": [f"C{i}" for i in range(len(stamps))],
            "AS_OF_DATE": dt.date(2025, 1, 1),
            "SCORED_AT": pd.to_datetime(stamps).floor("us"),
        }
    )
    warehouse.write_frame(frame, "ML.CUSTOMER_SCORES", "overwrite")
    back = warehouse.fetch_frame("SELECT customer_id, scored_at FROM ml.customer_scores")
    got = dict(zip(back["CUSTOMER_ID"], pd.to_datetime(back["SCORED_AT"]), strict=True))
    assert got == dict(zip(frame["CUSTOMER_ID"], frame["SCORED_AT"], strict=True))
