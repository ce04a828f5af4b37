"""The dashboard, driven by Streamlit's own AppTest on the demo warehouse and a tiny fixture."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tasks import dashboard as reads
from tasks.dashboard import Campaign, Segment
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse
from tests.reliability.harness import copy_home

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Each test reads its own warehouse: no settings or query cached from another test."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def demo_home(homes, tmp_path, monkeypatch) -> Path:
    """A private copy of the demo home after scoring (warehouse + MLflow champion)."""
    _, scored, _ = homes["scores"]
    home = copy_home(scored, tmp_path / "home")
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    monkeypatch.setenv("LIFELINE_TARGET", "local")
    return home


def fill_tiny(wh) -> None:
    """Three scored customers with hand-checkable numbers, two of them with attributes."""
    reasons = json.dumps(
        [{"feature": "RECENCY_DAYS", "value": 300.0, "effect": 0.4, "direction": "raises"}]
    )
    scores = pd.DataFrame(
        {
            "CUSTOMER_ID": ["A1", "A2", "B1"],
            "AS_OF_DATE": [AS_OF] * 3,
            "CHURN_PROBABILITY": [0.8, 0.5, 0.1],
            "CHURN_RISK_SCORE": [80, 50, 10],
            "RISK_BAND": ["High", "Medium", "Low"],
            "PREDICTED_CLV": [100.0, 200.0, 1000.0],
            "EXPECTED_VALUE_AT_RISK": [80.0, 100.0, 100.0],
            "VALUE_TIER": ["Bronze", "Silver", "Gold"],
            "CHURN_MODEL_VERSION": ["1"] * 3,
            "CLV_MODEL_VERSION": ["1"] * 3,
            "RISK_REASONS": [reasons, "[]", "[]"],
            "SCORED_AT": [pd.Timestamp("2025-07-01")] * 3,
            "FLOW_RUN_ID": ["r"] * 3,
        }
    )
    wh.write_frame(scores, "ML.CUSTOMER_SCORES", "append")
    customers = pd.DataFrame({"CUSTOMER_ID": ["A1", "A2"], "STATE": ["TX", "CA"]})
    wh.write_frame(customers, "RAW.CUSTOMERS", "merge", ("CUSTOMER_ID",))
    txns = pd.DataFrame(
        {
            "TRANSACTION_ID": ["t1", "t2", "t3"],
            "CUSTOMER_ID": ["A1", "A1", "A1"],
            "TXN_TS": pd.to_datetime(["2025-01-05", "2025-01-20", "2025-03-02"]),
            "AMOUNT": [10.0, 15.0, 7.5],
            "CATEGORY": ["Grocery", "Grocery", "Fuel"],
            "CHANNEL": [None, None, None],
            "STATUS": ["approved"] * 3,
        }
    )
    wh.write_frame(txns, "RAW.TRANSACTIONS", "append")


@pytest.fixture
def tiny_home(tmp_path, monkeypatch) -> Path:
    """A home whose warehouse holds the tiny fixture."""
    home = tmp_path / "tiny"
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    monkeypatch.setenv("LIFELINE_TARGET", "local")
    wh = open_warehouse(load_settings(home=home))
    fill_tiny(wh)
    wh.close()
    return home


def app(page: str) -> AppTest:
    """The app, run once on PAGE."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


def metric(at: AppTest, label: str) -> str:
    """The shown value of the metric called LABEL."""
    [found] = [m for m in at.metric if m.label == label]
    return found.value


def test_every_page_renders_on_the_demo_warehouse(demo_home):
    for page in ("portfolio", "customer", "segments", "campaign", "health"):
        at = app(page)
        assert not at.exception, (page, [e.value for e in at.exception])
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title[0].value
    settings = load_settings()
    wh = open_warehouse(settings, read_only=True)
    scored = wh.scalar(
        "SELECT COUNT(*) FROM ml.customer_scores WHERE as_of_date = "
        "(SELECT MAX(as_of_date) FROM ml.customer_scores)"
    )
    some = wh.scalar("SELECT MIN(customer_id) FROM ml.customer_scores")
    wh.close()
    assert metric(app("portfolio"), "Customers scored") == f"{scored:,}"
    # the health page shows the champion beside its baselines, with the calibration chart
    health = app("health")
    assert any("Churn champion v" in h.value for h in health.subheader)
    assert health.dataframe and health.get("image")
    # customer 360 on the demo: search by id, the scores and their reasons
    at = app("customer")
    at.text_input(key="c360-id").input(str(some)).run()
    assert not at.exception and at.selectbox(key="c360-pick").value == some
    assert "Top reasons for the risk score" in [h.value for h in at.subheader]


def test_portfolio_and_segments_on_the_tiny_fixture(tiny_home):
    at = app("portfolio")
    assert metric(at, "Customers scored") == "3"
    assert metric(at, "Expected value at risk") == "280"
    at = app("segments")  # default filter: the High band
    assert metric(at, "Customers") == "1" and metric(at, "Value at risk") == "80"
    at.multiselect(key="seg-bands").set_value(["High", "Medium"]).run()
    assert metric(at, "Customers") == "2"
    at.selectbox(key="seg-attr").set_value("STATE").run()
    at.selectbox(key="seg-val").set_value("CA").run()
    assert metric(at, "Customers") == "1" and at.dataframe[0].value["CUSTOMER_ID"].tolist() == [
        "A2"
    ]
    exported = reads.segment_list(
        open_warehouse(load_settings(), read_only=True),
        Segment(AS_OF, ("High", "Medium"), attributes=(("STATE", "CA"),)),
    )
    assert exported["CUSTOMER_ID"].tolist() == ["A2"]


def test_customer_360_search_by_id_and_attribute(tiny_home):
    at = app("customer")
    at.text_input(key="c360-id").input("A").run()
    assert at.selectbox(key="c360-pick").options == ["A1", "A2"]
    assert metric(at, "P(churn)") == "80%"
    reasons = at.dataframe[0].value
    assert reasons.iloc[0]["feature"] == "RECENCY_DAYS" and reasons.iloc[0]["direction"] == "raises"
    assert "Spend by category" in [h.value for h in at.subheader]
    assert "Spend by channel" not in [h.value for h in at.subheader]  # the log has none
    at = app("customer")
    at.selectbox(key="c360-attr").set_value("STATE").run()
    at.selectbox(key="c360-val").set_value("CA").run()
    assert at.selectbox(key="c360-pick").options == ["A2"]


def test_campaign_roi_matches_a_hand_computation(tiny_home):
    at = app("campaign")
    at.multiselect(key="roi-bands").set_value(["High", "Medium"]).run()
    at.number_input(key="roi-incentive").set_value(10.0).run()
    at.number_input(key="roi-contact").set_value(2.0).run()
    at.slider(key="roi-rate").set_value(50).run()
    # audience A1 (p .8, CLV 100) and A2 (p .5, CLV 200): at stake .8*100 + .5*200 = 180
    assert metric(at, "Audience") == "2"
    assert metric(at, "Value at stake") == "180"
    assert metric(at, "Campaign cost") == "24"  # 2 x (10 + 2)
    assert metric(at, "Retained customers") == "0.7"  # 50% of (.8 + .5)
    assert metric(at, "Retained value") == "90"  # 50% of 180
    assert metric(at, "ROI") == "275%"  # (90 - 24) / 24
    assert any("13.3%" in m.value for m in at.markdown)  # breakeven 24 / 180


def test_campaign_roi_arithmetic():
    result = reads.campaign_roi(
        pd.Series([0.8, 0.5]).to_numpy(),
        pd.Series([100.0, 200.0]).to_numpy(),
        Campaign(incentive=10, contact_cost=2, retention_rate=0.5),
    )
    assert result["cost"] == 24 and result["value_at_risk"] == pytest.approx(180)
    assert result["roi"] == pytest.approx(66 / 24)
    assert result["breakeven_retention_rate"] == pytest.approx(24 / 180)
    at_breakeven = reads.campaign_roi(
        pd.Series([0.8, 0.5]).to_numpy(),
        pd.Series([100.0, 200.0]).to_numpy(),
        Campaign(10, 2, result["breakeven_retention_rate"]),
    )
    assert at_breakeven["net"] == pytest.approx(0)


def test_an_unknown_attribute_never_reaches_sql(tiny_home):
    wh = open_warehouse(load_settings(), read_only=True)
    with pytest.raises(ValueError, match="unknown customer attribute"):
        reads.segment_list(wh, Segment(AS_OF, attributes=(("STATE; DROP TABLE x", "1"),)))
    wh.close()


def test_the_same_reads_run_on_the_snowflake_adapter_over_fakesnow():
    import fakesnow
    import snowflake.connector

    from tasks.warehouse.snowflake import SnowflakeWarehouse

    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        sf = SnowflakeWarehouse(snowflake.connector.connect(), "LIFELINE")
        sf.bootstrap()
        fill_tiny(sf)
        assert reads.scoring_dates(sf) == [AS_OF]
        assert reads.portfolio(sf, AS_OF)["CUSTOMERS"].sum() == 3
        assert reads.customer_attributes(sf) == ["STATE"]
        assert reads.attribute_values(sf, "STATE") == ["CA", "TX"]
        assert reads.find_customers(sf, AS_OF, "A", "STATE", "TX")["CUSTOMER_ID"].tolist() == ["A1"]
        segment = Segment(AS_OF, ("High", "Medium"), min_probability=0.4)
        assert reads.segment_summary(sf, segment)["CUSTOMERS"].sum() == 2
        assert reads.segment_list(sf, segment)["CUSTOMER_ID"].tolist() == ["A2", "A1"]
        assert reads.purchase_history(sf, "A1")["SPEND"].tolist() == [25.0, 7.5]
        assert reads.purchase_mix(sf, "A1", "CATEGORY")["NAME"].tolist() == ["Grocery", "Fuel"]
        assert len(reads.score_history(sf, "A1")) == 1
        for name in ("realised_history", "drift_history", "gate_history", "last_runs"):
            assert getattr(reads, name)(sf).empty


def test_id_search_is_a_plain_prefix_even_with_wildcard_characters(wh):
    ids = ["C_1", "CX1", "C%2", "D_1"]
    scores = pd.DataFrame(
        {"CUSTOMER_ID": ids, "AS_OF_DATE": [AS_OF] * 4, "CHURN_PROBABILITY": [0.5] * 4}
    )
    wh.write_frame(scores, "ML.CUSTOMER_SCORES", "append")
    assert reads.find_customers(wh, AS_OF, "C_")["CUSTOMER_ID"].tolist() == ["C_1"]
    assert reads.find_customers(wh, AS_OF, "C%")["CUSTOMER_ID"].tolist() == ["C%2"]
    assert reads.find_customers(wh, AS_OF, "C")["CUSTOMER_ID"].tolist() == ["C%2", "CX1", "C_1"]
