"""The Lifeline dashboard (Streamlit): portfolio, customer 360, segments, campaign ROI, health.

Started by `lifeline dashboard`; reads through the Warehouse port, so the same app runs on
the DuckDB default and on Snowflake (also as Streamlit in Snowflake). Each read is cached
by its arguments (a scoring date, a customer, a segment) for five minutes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import streamlit as st

from tasks import dashboard as reads
from tasks.dashboard import Campaign, Segment
from tasks.settings import LifelineSettings, load_settings
from tasks.warehouse import Warehouse, open_warehouse
from tasks.warehouse.duckdb import WarehouseBusyError

PAGES = {
    "portfolio": "Portfolio",
    "customer": "Customer 360",
    "segments": "Segments",
    "campaign": "Campaign ROI",
    "health": "Model & data health",
}
BANDS = ("High", "Medium", "Low")


@st.cache_resource
def settings() -> LifelineSettings:
    """The environment's settings, read once per app process."""
    return load_settings()


@st.cache_resource
def snowflake_session() -> object | None:
    """The app's own Snowpark session when it runs as Streamlit in Snowflake, else None."""
    try:
        from snowflake.snowpark.context import get_active_session

        return get_active_session()
    except Exception:  # noqa: BLE001 - no active session: a local or self-hosted app
        return None


@st.cache_resource
def shared_warehouse() -> Warehouse:
    """One read-only session for the whole app (Snowflake: connecting takes seconds)."""
    session = snowflake_session()
    if session is not None:  # Streamlit in Snowflake: the app's role and database
        from tasks.warehouse.snowflake import SnowflakeWarehouse

        return SnowflakeWarehouse.from_session(session)
    return open_warehouse(settings(), read_only=True)


@contextmanager
def warehouse() -> Iterator[Warehouse]:
    """A read-only warehouse; DuckDB's file is opened per read so runs can still write it."""
    if settings().target == "snowflake" or snowflake_session() is not None:
        yield shared_warehouse()
        return
    wh = open_warehouse(settings(), read_only=True)
    try:
        yield wh
    finally:
        wh.close()


@st.cache_data(ttl=300, show_spinner=False, max_entries=500)
def query(name: str, *args: object) -> object:
    """The dashboard read NAME with ARGS, cached by its arguments."""
    with warehouse() as wh:
        return getattr(reads, name)(wh, *args)


@st.cache_data(ttl=300, show_spinner=False)
def champion_health(tracking_uri: str) -> dict | None:
    """The champion's holdout metrics and calibration chart, cached per registry."""
    return reads.champion_health(settings())


def money(value: float) -> str:
    """A value in the log's currency, rounded for reading."""
    return f"{value:,.0f}"


def export_csv(label: str, frame: pd.DataFrame, file_name: str, key: str) -> None:
    """A download button for FRAME as CSV."""
    st.download_button(
        label,
        frame.to_csv(index=False).encode(),
        file_name=file_name,
        mime="text/csv",
        key=f"{key}-export",
    )


def segment_filters(as_of: dt.date, key: str) -> Segment:
    """Band, tier, threshold and attribute filters, as a Segment."""
    tiers = sorted(query("portfolio", as_of)["VALUE_TIER"].dropna().unique())
    left, right = st.columns(2)
    bands = left.multiselect("Risk band", BANDS, default=["High"], key=f"{key}-bands")
    chosen_tiers = right.multiselect("CLV tier", tiers, key=f"{key}-tiers")
    min_p = left.slider("Minimum P(churn)", 0.0, 1.0, 0.0, 0.05, key=f"{key}-p")
    min_clv = right.number_input("Minimum CLV", 0.0, value=0.0, step=10.0, key=f"{key}-clv")
    attributes: list[tuple[str, str]] = []
    available = query("customer_attributes")
    if available:
        name = left.selectbox("Attribute", ["(any)", *available], key=f"{key}-attr")
        if name != "(any)":
            value = right.selectbox("equals", query("attribute_values", name), key=f"{key}-val")
            attributes.append((name, value))
    return Segment(as_of, tuple(bands), tuple(chosen_tiers), min_p, min_clv, tuple(attributes))


def page_portfolio(as_of: dt.date, dates: list[dt.date]) -> None:
    """Customers by risk band and CLV tier, value at risk, and how they moved."""
    frame = query("portfolio", as_of)
    a, b, c = st.columns(3)
    a.metric("Customers scored", f"{int(frame['CUSTOMERS'].sum()):,}")
    b.metric("Predicted CLV", money(frame["CLV"].sum()))
    c.metric("Expected value at risk", money(frame["VALUE_AT_RISK"].sum()))
    st.subheader("Customers by risk band and CLV tier")
    grid = frame.pivot_table(
        index="RISK_BAND", columns="VALUE_TIER", values="CUSTOMERS", aggfunc="sum", fill_value=0
    )
    st.dataframe(grid.reindex([b for b in BANDS if b in grid.index]))
    st.subheader("Value at risk by band")
    st.bar_chart(frame.groupby("RISK_BAND")["VALUE_AT_RISK"].sum())
    history = query("band_history", tuple(dates[:12]))
    if history["AS_OF_DATE"].nunique() > 1:
        st.subheader("Across scoring dates")
        moved = history.pivot_table(
            index="AS_OF_DATE", columns="RISK_BAND", values="CUSTOMERS", aggfunc="sum"
        )
        st.line_chart(moved)


def page_customer(as_of: dt.date) -> None:
    """Search a customer; their scores over time, top reasons and purchases."""
    left, right = st.columns(2)
    # ?customer=ID links straight to one customer (e.g. from a CRM record)
    linked = st.query_params.get("customer", "")
    text = left.text_input("Customer id starts with", value=linked, key="c360-id")
    attribute = value = None
    available = query("customer_attributes")
    if available:
        picked = right.selectbox("or attribute", ["(any)", *available], key="c360-attr")
        if picked != "(any)":
            attribute = picked
            value = right.selectbox("equals", query("attribute_values", picked), key="c360-val")
    if not text and attribute is None:
        st.info("Type the start of a customer id, or pick an attribute.")
        return
    found = query("find_customers", as_of, text, attribute, value)
    if found.empty:
        st.warning("No customer scored at this date matches.")
        return
    customer = st.selectbox("Customer", found["CUSTOMER_ID"].tolist(), key="c360-pick")
    history = query("score_history", customer)
    latest = history.iloc[-1]
    a, b, c, d = st.columns(4)
    a.metric("P(churn)", f"{latest['CHURN_PROBABILITY']:.0%}")
    b.metric("Risk band", latest["RISK_BAND"])
    c.metric("Predicted CLV", money(latest["PREDICTED_CLV"]))
    d.metric("Value at risk", money(latest["EXPECTED_VALUE_AT_RISK"]))
    st.caption(
        f"{latest['VALUE_TIER']} CLV tier; scored at {pd.Timestamp(latest['AS_OF_DATE']).date()} "
        f"by churn model v{latest['CHURN_MODEL_VERSION']}"
    )
    st.subheader("Top reasons for the risk score")
    reasons = reads.reasons_table(latest["RISK_REASONS"])
    if reasons.empty:
        st.caption("Reasons are kept for the Medium and High bands (and scores since reasons).")
    else:
        st.dataframe(reasons, hide_index=True)
    profile = query("customer_profile", customer)
    if not profile.empty:
        st.subheader("Attributes")
        st.dataframe(profile.dropna(axis=1), hide_index=True)
    if len(history) > 1:
        st.subheader("P(churn) across scoring dates")
        st.line_chart(history.set_index("AS_OF_DATE")[["CHURN_PROBABILITY"]])
    st.subheader("Purchases per month")
    purchases = query("purchase_history", customer)
    st.bar_chart(purchases.set_index("MONTH")[["SPEND"]])
    for column in ("CATEGORY", "CHANNEL"):
        mix = query("purchase_mix", customer, column)
        if not mix.empty:
            st.subheader(f"Spend by {column.lower()}")
            st.bar_chart(mix.set_index("NAME")[["SPEND"]])


def page_segments(as_of: dt.date) -> None:
    """Filter the scored customers; summary, chart and the CSV list."""
    segment = segment_filters(as_of, "seg")
    summary = query("segment_summary", segment)
    a, b, c, d = st.columns(4)
    a.metric("Customers", f"{int(summary['CUSTOMERS'].sum()):,}")
    b.metric("Predicted CLV", money(summary["CLV"].sum()))
    c.metric("Value at risk", money(summary["VALUE_AT_RISK"].sum()))
    total = summary["CUSTOMERS"].sum()
    mean = (summary["MEAN_PROBABILITY"] * summary["CUSTOMERS"]).sum() / total if total else 0
    d.metric("Mean P(churn)", f"{mean:.0%}")
    if not summary.empty:
        st.bar_chart(summary.set_index("RISK_BAND")[["VALUE_AT_RISK"]])
    listed = query("segment_list", segment)
    st.dataframe(listed.head(reads.SHOWN), hide_index=True)
    export_csv(f"Export {len(listed):,} customers (CSV)", listed, f"segment-{as_of}.csv", "seg")


def page_campaign(as_of: dt.date) -> None:
    """Cost, retained value, ROI, breakeven and sensitivity of a retention offer."""
    segment = segment_filters(as_of, "roi")
    left, right = st.columns(2)
    incentive = left.number_input(
        "Incentive per customer", 0.0, value=10.0, step=1.0, key="roi-incentive"
    )
    contact = right.number_input(
        "Contact cost per customer", 0.0, value=1.0, step=0.5, key="roi-contact"
    )
    rate = st.slider(
        "Expected retention rate (% of would-be churners kept)", 0, 100, 20, key="roi-rate"
    )
    audience = query("segment_list", segment)
    campaign = Campaign(incentive, contact, rate / 100)
    probability = audience["CHURN_PROBABILITY"].to_numpy()
    clv = audience["PREDICTED_CLV"].to_numpy()
    result = reads.campaign_roi(probability, clv, campaign)
    a, b, c = st.columns(3)
    a.metric("Audience", f"{result['customers']:,}")
    b.metric("Campaign cost", money(result["cost"]))
    c.metric("Value at stake", money(result["value_at_risk"]))
    a.metric("Retained customers", f"{result['retained_customers']:,.1f}")
    b.metric("Retained value", money(result["retained_value"]))
    c.metric("ROI", "n/a" if result["cost"] == 0 else f"{result['roi']:.0%}")
    breakeven = result["breakeven_retention_rate"]
    st.markdown(
        f"**Breakeven retention rate: {breakeven:.1%}**"
        if breakeven == breakeven
        else "**No value at stake in this audience: no retention rate breaks even.**"
    )
    sensitivity = reads.roi_sensitivity(probability, clv, campaign)
    st.subheader("Net value by retention rate")
    st.line_chart(sensitivity.set_index("retention_rate")[["net"]])
    export_csv(
        f"Export the {result['customers']:,} targets (CSV)",
        audience,
        f"campaign-{as_of}.csv",
        "roi",
    )


def page_health() -> None:
    """The champion against its baselines, realised performance, drift, gates and runs."""
    try:
        health = champion_health(settings().tracking_uri)
    except Exception as exc:  # noqa: BLE001 - the registry being down must not hide the rest
        health = None
        st.warning(f"The model registry is not reachable: {str(exc)[:200]}")
    if health is not None:
        st.subheader(f"Churn champion v{health['version']} (trained at {health['trained']})")
        metrics = health["metrics"]
        for task, title in (("churn", "Churn: every candidate on the holdout"), ("clv", "CLV")):
            rows = metrics[metrics["task"] == task]
            if not rows.empty:
                st.markdown(f"**{title}**")
                st.dataframe(rows.pivot_table(index="candidate", columns="metric", values="value"))
        if health["calibration"]:
            st.image(health["calibration"], caption="Calibration on the holdout")
    st.subheader("Realised performance of past scores")
    realised = query("realised_history")
    if realised.empty:
        st.caption("No scoring date has reached its horizon yet.")
    else:
        st.dataframe(realised, hide_index=True)
    for title, name in (
        ("Drift checks", "drift_history"),
        ("Quality gates", "gate_history"),
        ("Last runs", "last_runs"),
    ):
        st.subheader(title)
        st.dataframe(query(name), hide_index=True)


def main() -> None:
    """Pick a page (from the sidebar or ?page=) and a scoring date, then draw the page."""
    st.set_page_config(page_title="Lifeline", layout="wide")
    keys = list(PAGES)
    wanted = st.query_params.get("page", "portfolio")
    page = st.sidebar.radio(
        "Page",
        keys,
        index=keys.index(wanted) if wanted in keys else 0,
        format_func=PAGES.get,
        key="page",
    )
    st.title(PAGES[page])
    try:
        dates = query("scoring_dates")
    except WarehouseBusyError:
        st.warning("A run is writing the warehouse right now; reload in a moment.")
        return
    if page == "health":
        page_health()
        footer()
        return
    if not dates:
        st.info("No scores yet: run `lifeline demo` (or the pipeline) first.")
        return
    as_of = st.sidebar.selectbox("Scoring date", dates, key="as_of")
    {
        "portfolio": lambda: page_portfolio(as_of, dates),
        "customer": lambda: page_customer(as_of),
        "segments": lambda: page_segments(as_of),
        "campaign": lambda: page_campaign(as_of),
    }[page]()
    footer()


def footer() -> None:
    """Where the numbers come from (the browser check waits for this line: the page is done)."""
    st.caption(f"Lifeline · {settings().target} warehouse · read through the Warehouse port")


if __name__ == "__main__":  # streamlit runs the script as __main__; importing draws nothing
    main()
