"""Point-in-time features and labels: given rows, expected rows; no leakage."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlglot

from tasks import features
from tasks.catalogue import BASELINE_COLUMNS, FEATURE_NAMES
from tasks.ingest import ingest_customer_file, ingest_transaction_file, split_portfolio
from tasks.warehouse.sqlfiles import SQL_ROOT

T = dt.date(2025, 7, 1)
AS_OF = T + dt.timedelta(days=150)  # cut-offs sit on the 30-day grid ending at the as-of


def txns(rows: list[tuple]) -> pd.DataFrame:
    """(customer, 'YYYY-MM-DD', amount, status, category, channel) -> RAW.TRANSACTIONS rows."""
    return pd.DataFrame(
        [
            {
                "TRANSACTION_ID": f"T{i}",
                "CUSTOMER_ID": c,
                "TXN_TS": pd.Timestamp(d) + pd.Timedelta("12h"),
                "AMOUNT": a,
                "STATUS": s,
                "CATEGORY": cat,
                "CHANNEL": ch,
            }
            for i, (c, d, a, s, cat, ch) in enumerate(rows)
        ]
    )


def build(
    wh, as_of: dt.date, horizon: int = 90, snapshots=None, fit_btyd: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stage and publish features and labels; return both tables."""
    snaps = snapshots or [features.Snapshot(T, "holdout")]
    features.record_snapshots(wh, "r", snaps)
    f, names, _ = features.stage_feature_rows(wh, "r", as_of, horizon, fit_btyd=fit_btyd)
    lab = features.stage_labels(wh, "r", as_of, horizon, 0.3)
    counts = features.publish_features(wh, features.FeatureStaging(f, lab, names))
    assert counts["features"] == wh.row_count("FEATURES.CUSTOMER_FEATURES") > 0
    assert not wh.table_exists(f)
    return (
        wh.fetch_frame("SELECT * FROM features.customer_features ORDER BY 1, 2"),
        wh.fetch_frame("SELECT * FROM features.labels ORDER BY 1, 2"),
    )


@pytest.fixture
def small(wh):
    """Hand-made customers around the cut-off T = 2025-07-01."""
    wh.write_frame(
        txns(
            [
                # A: steady, one refund, one decline; keeps buying after T
                ("A", "2025-06-30", 100.0, "approved", "Grocery", "Online"),
                ("A", "2025-06-10", 50.0, "approved", "Airlines", "Mobile"),
                ("A", "2025-05-01", -20.0, "approved", "Grocery", "Online"),
                ("A", "2025-06-20", 30.0, "declined", "Grocery", "Online"),
                ("A", "2025-07-01", 999.0, "approved", "Grocery", "Online"),  # on T: not a feature
                ("A", "2025-08-01", 200.0, "approved", "Grocery", "Online"),
                # B: single purchase, nothing after T -> churned
                ("B", "2025-05-15", 40.0, "approved", "Hotels", "In-Store"),
                # C: all declined -> not active, no row
                ("C", "2025-06-01", 10.0, "declined", "Gas", "Online"),
                # D: joins after T -> no row at T
                ("D", "2025-07-05", 10.0, "approved", "Gas", "Online"),
                # E: spends 1000 before, 100 after -> below 30 % of baseline -> churned
                ("E", "2025-06-01", 1000.0, "approved", "Apparel", "Online"),
                ("E", "2025-08-01", 100.0, "approved", "Apparel", "Online"),
            ]
        ),
        "RAW.TRANSACTIONS",
        "append",
    )
    return wh


def test_feature_values(small):
    feats, _ = build(small, AS_OF)
    assert feats["CUSTOMER_ID"].tolist() == ["A", "B", "E"]
    a = feats.set_index("CUSTOMER_ID").loc["A"]
    assert a["RECENCY_DAYS"] == 1  # the purchase on T itself is not seen
    assert a["TXN_COUNT_30"] == 2 and a["TXN_COUNT_90"] == 3
    assert a["SPEND_90"] == pytest.approx(130.0)  # refund nets off
    assert a["TRAVEL_SHARE_360"] == pytest.approx(50 / 130, abs=1e-6)
    assert a["DECLINE_RATE_90"] == pytest.approx(1 / 4)
    assert a["ONLINE_SHARE_360"] == pytest.approx(2 / 3, abs=1e-6)
    b = feats.set_index("CUSTOMER_ID").loc["B"]
    assert b["TXN_COUNT_LIFETIME"] == 1 and pd.isna(b["INTERPURCHASE_MEAN_360"])
    assert b["TENURE_DAYS"] == (T - dt.date(2025, 5, 15)).days


def test_staged_training_set_equals_the_fetched_one(small):
    build(small, AS_OF)
    training_set = features.TrainingSet("r", 90)
    table = training_set.stage(small)
    assert table.startswith("ML.STG_TRAINING_")
    staged = small.fetch_frame(f"SELECT * FROM {table} ORDER BY as_of_date, customer_id")
    pd.testing.assert_frame_equal(staged, training_set.fetch(small))
    holdout = training_set.fetch(small, holdout_only=True)
    assert holdout["ROLE"].eq("holdout").all() and len(holdout) == 3
    assert table in features.drop_stale_staging(small)


def test_snapshots_off_the_grid_are_refused(small):
    with pytest.raises(ValueError, match="not on the 30-day grid"):
        build(small, T + dt.timedelta(days=31))


def test_label_rules(small):
    _, labels = build(small, AS_OF)
    got = labels.set_index("CUSTOMER_ID")
    assert got.loc["A", "CHURNED"] == 0 and got.loc["A", "FUTURE_VALUE"] == pytest.approx(1199)
    assert got.loc["B", "CHURNED"] == 1 and got.loc["B", "FUTURE_VALUE"] == 0
    assert got.loc["E", "CHURNED"] == 1  # 100 < 0.3 x 1000
    assert "C" not in got.index and "D" not in got.index


def test_no_labels_when_horizon_passes_the_cut_off(small):
    _, labels = build(small, T + dt.timedelta(days=60))  # T + 90 days > as_of
    assert labels.empty


def test_a_log_too_short_for_a_training_cut_off_says_how_much_is_missing(small):
    # The small log starts 211 days before AS_OF; a 120-day horizon needs 240.
    with pytest.raises(features.ShortHistoryError, match="starts on 2025-05-01, 211 day") as e:
        features.stage_features(small, "r", AS_OF, 120, 2, 0.3, fit_btyd=False)
    assert "shorter --horizon-days" in str(e.value)
    assert not small.list_tables("FEATURES", "STG_")  # nothing staged is left behind
    staging = features.stage_features(small, "r", AS_OF, 30, 2, 0.3, fit_btyd=False)
    assert small.row_count(staging.labels) > 0  # a 30-day horizon fits in the same log


def test_appending_future_data_does_not_change_features_at_t(wh, portfolio):
    customers, files = split_portfolio(str(portfolio))
    for f in customers:
        ingest_customer_file(wh, f, "r")
    for f in files:
        ingest_transaction_file(wh, f, {}, "r")
    as_of = dt.date(2025, 12, 1)
    snaps = features.plan_snapshots(as_of, 90, 2)
    holdout = next(s.as_of_date for s in snaps if s.role == "holdout")
    first, _ = build(wh, as_of, snapshots=snaps, fit_btyd=True)
    wh.execute("UPDATE raw.transactions SET amount = amount * 3 WHERE txn_ts >= :t", {"t": holdout})
    wh.write_frame(
        txns([("CUST00000001", str(holdout), 5000.0, "approved", "Gas", "Online")]),
        "RAW.TRANSACTIONS",
        "append",
    )
    second, _ = build(wh, as_of, snapshots=snaps, fit_btyd=True)
    assert first["BGNBD_P_ALIVE"].notna().all()  # the BTYD fits are point in time too
    cols = ["CUSTOMER_ID", "AS_OF_DATE", *FEATURE_NAMES, *BASELINE_COLUMNS]
    past = [pd.Timestamp(s.as_of_date) for s in snaps if s.role != "score"]

    def before_change(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["AS_OF_DATE"].isin(past)][cols].reset_index(drop=True)

    assert len(before_change(first)) > 100
    pd.testing.assert_frame_equal(before_change(first), before_change(second), check_exact=True)
    assert not first[cols].equals(second[cols])  # the score cut-off does see the change


def test_feature_sql_columns_match_the_registry(small):
    feats, _ = build(small, AS_OF)
    assert [c for c in feats.columns if c in features.FEATURE_DEFINITIONS] == list(FEATURE_NAMES)
    assert set(feats.columns) - set(FEATURE_NAMES) - set(BASELINE_COLUMNS) == {
        "CUSTOMER_ID",
        "AS_OF_DATE",
        "FEATURE_VERSION",
        "FLOW_RUN_ID",
    }
    names = features.TrainingSet("r", 90).feature_names(small)
    assert "BGNBD_P_ALIVE" not in names and "RECENCY_DAYS" in names  # fits were off
    assert feats["FEATURE_VERSION"].iloc[0] == features.feature_version(names)
    before = small.row_count("FEATURES.FEATURE_REGISTRY")
    assert before == len(names)
    features.register_features(small, names)  # idempotent
    assert small.row_count("FEATURES.FEATURE_REGISTRY") == before


def test_snapshot_plan_is_honest():
    snaps = features.plan_snapshots(dt.date(2026, 1, 1), 90, 3)
    holdout = next(s.as_of_date for s in snaps if s.role == "holdout")
    train = [s.as_of_date for s in snaps if s.role == "train"]
    assert holdout == dt.date(2026, 1, 1) - dt.timedelta(days=90)
    assert all(d + dt.timedelta(days=90) <= holdout for d in train)


@pytest.mark.parametrize("path", sorted(SQL_ROOT.rglob("*.sql")), ids=lambda p: p.name)
def test_sql_files_parse_as_snowflake_and_have_a_header(path):
    text = path.read_text()
    assert text.startswith("-- Purpose:")
    statements = [s for s in sqlglot.parse(text, read="snowflake") if s is not None]
    assert len(statements) == 1


def test_feature_build_runs_on_the_snowflake_adapter_over_fakesnow():
    import fakesnow
    import snowflake.connector

    from tasks.warehouse.snowflake import SnowflakeWarehouse

    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        sf = SnowflakeWarehouse(snowflake.connector.connect(), "LIFELINE")
        sf.bootstrap()
        sf.write_frame(
            txns(
                [
                    ("A", "2025-06-30", 100.0, "approved", "Grocery", "Online"),
                    ("A", "2025-06-10", 50.0, "approved", "Airlines", "Mobile"),
                    ("A", "2025-08-01", 200.0, "approved", "Grocery", "Online"),
                    ("B", "2025-05-15", 40.0, "approved", "Hotels", "In-Store"),
                ]
            ),
            "RAW.TRANSACTIONS",
            "append",
        )
        feats, labels = build(sf, AS_OF)
    assert feats["CUSTOMER_ID"].tolist() == ["A", "B"]
    assert feats.set_index("CUSTOMER_ID").loc["A", "SPEND_90"] == pytest.approx(150.0)
    assert labels.set_index("CUSTOMER_ID")["CHURNED"].to_dict() == {"A": 0, "B": 1}


@pytest.mark.parametrize("horizon", [90, 45, 7])  # period grids of 30, 15 and 1 days
def test_purchase_day_gaps_from_period_bit_masks_equal_a_day_by_day_count(wh, horizon):
    """Gaps between purchase days (several purchases a day, across periods and half masks)."""
    rng = pd.Series(range(400)).sample(frac=1.0, random_state=horizon).to_numpy()
    rows = []
    for k, customer in enumerate("PQRS"):
        days = sorted(T - dt.timedelta(days=int(d) + 1) for d in rng[k * 40 : k * 40 + 8 + 7 * k])
        for i, day in enumerate(days):
            rows.append((customer, str(day), 10.0 + i, "approved", "Gas", "Online"))
            if i % 3 == 0:  # a second purchase the same day is the same purchase day
                rows.append((customer, str(day), 5.0, "approved", "Gas", "Online"))
        rows.append((customer, str(days[1]), 7.0, "declined", "Gas", "Online"))
    wh.write_frame(txns(rows), "RAW.TRANSACTIONS", "append")
    feats, _ = build(wh, T, horizon, [features.Snapshot(T, "score")])
    rfm = wh.fetch_frame(features.load_sql("features/25_select_rfm"), {"run_id": "r"})
    frame = txns(rows).query("STATUS == 'approved'")
    for customer, own in frame.groupby("CUSTOMER_ID"):
        spend = own.groupby(own["TXN_TS"].dt.normalize())["AMOUNT"].sum().sort_index()
        days = pd.Series(spend.index)
        gaps = days.diff().dt.days[days >= pd.Timestamp(T - dt.timedelta(days=360))].dropna()
        row = feats.set_index("CUSTOMER_ID").loc[customer]
        assert row["INTERPURCHASE_MEAN_360"] == pytest.approx(gaps.mean(), abs=1e-6)
        assert row["INTERPURCHASE_STD_360"] == pytest.approx(gaps.std(), abs=1e-6)
        summary = rfm.set_index("CUSTOMER_ID").loc[customer]
        assert summary["FREQUENCY"] == len(days) - 1
        assert summary["MONETARY_VALUE"] == pytest.approx(spend.iloc[1:].mean())


def test_a_sampled_training_set_keeps_whole_customers_and_the_whole_holdout(wh, portfolio):
    customers, files = split_portfolio(str(portfolio))
    for f in files:
        ingest_transaction_file(wh, f, {}, "r")
    build(wh, dt.date(2025, 12, 1), snapshots=features.plan_snapshots(dt.date(2025, 12, 1), 90, 4))
    everyone = features.TrainingSet("r", 90)
    full = everyone.fetch(wh)
    assert everyone.train_rows(wh) == int(full["ROLE"].eq("train").sum()) > 1000
    sampled = features.TrainingSet("r", 90, keep_share=0.25)
    part = sampled.fetch(wh)
    train = part[part["ROLE"] == "train"]
    assert 0.15 < len(train) / full["ROLE"].eq("train").sum() < 0.35
    # whole customers: each sampled customer keeps every training cut-off it had
    per_customer = full[full["ROLE"] == "train"].groupby("CUSTOMER_ID").size()
    kept = train.groupby("CUSTOMER_ID").size()
    assert kept.equals(per_customer.loc[kept.index])
    pd.testing.assert_frame_equal(
        part[part["ROLE"] == "holdout"].reset_index(drop=True),
        full[full["ROLE"] == "holdout"].reset_index(drop=True),
    )
    staged = wh.fetch_frame(f"SELECT COUNT(*) AS n FROM {sampled.stage(wh)}")["N"].iloc[0]
    assert staged == len(part)  # the in-warehouse trainers get the same sample


def test_training_above_the_row_cap_fits_a_sample_and_the_model_card_says_so(
    wh, portfolio, monkeypatch
):
    from tasks import registry, training
    from tasks.modeling import ModelConfig

    class Capped(ModelConfig):
        max_train_rows: int = 1_500
        max_iter: int = 30

    monkeypatch.setattr(training, "ModelConfig", Capped)
    for f in split_portfolio(str(portfolio))[1]:
        ingest_transaction_file(wh, f, {}, "r")
    as_of = dt.date(2025, 12, 1)
    build(wh, as_of, snapshots=features.plan_snapshots(as_of, 90, 4))
    wh.execute("DELETE FROM features.snapshot_dates")  # train_models plans its own
    result, holdout = training.train_models(wh, "t", as_of, 90, 4, "local")
    available = result.rows["train_available"]
    assert available > 2 * 1_500 and 1_000 < result.rows["train"] < 2_000
    assert len(holdout) == result.rows["holdout"]
    card = registry.model_card({"as_of": as_of}, result, [])
    assert f"sampled from {available:,}" in card and "capped at about 1,500 rows" in card


@pytest.mark.parametrize(
    ("every", "says"),
    [(None, "churned: nobody bought again within 30 days"), (5, "stayed: every customer")],
)
def test_labels_of_one_class_say_why(wh, every, says):
    # One purchase each (everyone churns), or a purchase every 5 days (nobody does).
    start = dt.date(2025, 3, 1)
    days = range(0, (AS_OF - start).days, every) if every else [0]
    rows = [
        (c, str(start + dt.timedelta(days=d + i)), 10.0, "approved", "Gas", "Online")
        for i, c in enumerate("PQRST")
        for d in days
    ]
    wh.write_frame(txns(rows), "RAW.TRANSACTIONS", mode="append")
    staging = features.stage_features(wh, "r", AS_OF, 30, 2, 0.3, fit_btyd=False)
    reason = features.one_class_reason(wh, staging.labels, 30)
    assert reason.startswith(f"all 15 labelled rows (customers x cut-offs) {says}")


def test_labels_of_both_classes_need_no_reason(small):
    staging = features.stage_features(small, "r", AS_OF, 90, 2, 0.3, fit_btyd=False)
    assert features.one_class_reason(small, staging.labels, 90) is None
