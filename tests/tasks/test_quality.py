"""Quality gates: broken data fails with the expectation named; verdicts agree with GX."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tasks import quality
from tasks.policy import IngestPolicy

# The raw gate's parameters under a policy that lists the card portfolio's values.
MAX_TS = IngestPolicy(
    statuses=("approved", "declined", "reversed", "pending"),
    channels=("Online", "In-Store", "Mobile"),
).gate_parameters("2026-01-01 00:00:00")


def raw_rows(n: int = 20) -> pd.DataFrame:
    """Clean RAW.TRANSACTIONS-shaped rows."""
    return pd.DataFrame(
        {
            "TRANSACTION_ID": [f"T{i}" for i in range(n)],
            "CUSTOMER_ID": [f"C{i % 4}" for i in range(n)],
            "TXN_TS": pd.date_range("2025-01-01", periods=n, freq="D"),
            "AMOUNT": [10.0 + i for i in range(n)],
            "STATUS": ["approved"] * (n - 1) + ["declined"],
            "CHANNEL": ["Online", "Mobile", "In-Store", "Online"] * (n // 4),
        }
    )


def feature_rows(n: int = 20) -> pd.DataFrame:
    """Clean staged-feature rows (the columns the suite reads)."""
    return pd.DataFrame(
        {
            "CUSTOMER_ID": [f"C{i}" for i in range(n)],
            "AS_OF_DATE": pd.Timestamp("2025-06-01"),
            "RECENCY_DAYS": 5.0,
            "TXN_COUNT_LIFETIME": 3.0,
            "DECLINE_RATE_90": 0.1,
            "TENURE_DAYS": 400.0,
        }
    )


def label_rows(n: int = 100, churn_rate: float = 0.1) -> pd.DataFrame:
    """Clean label rows with the given churn rate."""
    churned = [1 if i < n * churn_rate else 0 for i in range(n)]
    return pd.DataFrame(
        {
            "CUSTOMER_ID": [f"C{i}" for i in range(n)],
            "AS_OF_DATE": pd.Timestamp("2025-06-01"),
            "HORIZON_DAYS": 90,
            "CHURNED": churned,
            "FUTURE_VALUE": 100.0,
        }
    )


def score_rows(n: int = 10) -> pd.DataFrame:
    """Clean staged-score rows."""
    return pd.DataFrame(
        {
            "CUSTOMER_ID": [f"C{i}" for i in range(n)],
            "AS_OF_DATE": pd.Timestamp("2025-06-01"),
            "CHURN_PROBABILITY": 0.3,
            "PREDICTED_CLV": 50.0,
            "RISK_BAND": "Low",
        }
    )


def broken(frame: pd.DataFrame, **changes) -> pd.DataFrame:
    """Copy FRAME with the first row's columns changed."""
    out = frame.copy()
    for column, value in changes.items():
        out[column] = out[column].astype(object)
        out.loc[0, column] = value
    return out


CASES = {
    "raw_transactions": (
        raw_rows,
        MAX_TS,
        [
            ({"CUSTOMER_ID": None}, "expect_column_values_to_not_be_null(CUSTOMER_ID)"),
            ({"TRANSACTION_ID": "T1"}, "expect_column_values_to_be_unique(TRANSACTION_ID)"),
            ({"AMOUNT": 5e6}, "expect_column_values_to_be_between(AMOUNT)"),
            ({"TXN_TS": pd.Timestamp("2027-01-01")}, "expect_column_values_to_be_between(TXN_TS)"),
            ({"STATUS": "bogus"}, "expect_column_values_to_be_in_set(STATUS)"),
        ],
    ),
    "customer_features": (
        feature_rows,
        {"max_recency_days": 90},
        [
            ({"CUSTOMER_ID": "C1"}, "expect_compound_columns_to_be_unique(CUSTOMER_ID,AS_OF_DATE)"),
            ({"RECENCY_DAYS": 0.0}, "expect_column_values_to_be_between(RECENCY_DAYS)"),
            ({"RECENCY_DAYS": None}, "expect_column_values_to_not_be_null(RECENCY_DAYS)"),
            ({"DECLINE_RATE_90": 1.5}, "expect_column_values_to_be_between(DECLINE_RATE_90)"),
        ],
    ),
    "training_labels": (
        label_rows,
        {"churn_rate_min": 0.005, "churn_rate_max": 0.6},
        [
            ({"CHURNED": 2}, "expect_column_values_to_be_in_set(CHURNED)"),
            ({"FUTURE_VALUE": None}, "expect_column_values_to_not_be_null(FUTURE_VALUE)"),
        ],
    ),
    "customer_scores": (
        score_rows,
        {"eligible_customers": 10},
        [
            ({"CHURN_PROBABILITY": 1.2}, "expect_column_values_to_be_between(CHURN_PROBABILITY)"),
            ({"PREDICTED_CLV": -1.0}, "expect_column_values_to_be_between(PREDICTED_CLV)"),
            ({"RISK_BAND": "Extreme"}, "expect_column_values_to_be_in_set(RISK_BAND)"),
        ],
    ),
}


def evaluate(wh, suite: str, frame: pd.DataFrame, params: dict) -> quality.SuiteResult:
    """Load FRAME into a fresh table and evaluate SUITE on it."""
    wh.drop_table("OPS.CHECKED")
    wh.load_staging(frame, "OPS.CHECKED")
    return quality.evaluate_suite(wh, suite, "OPS.CHECKED", params)


@pytest.mark.parametrize("suite", list(CASES))
def test_clean_data_passes(wh, suite):
    make, params, _ = CASES[suite]
    result = evaluate(wh, suite, make(), params)
    assert result.success, quality.failure_message(result)
    assert len(result.results) == len(quality.load_suite(suite)["expectations"])


@pytest.mark.parametrize(
    ("suite", "change", "label"),
    [(suite, change, label) for suite, (_, _, cases) in CASES.items() for change, label in cases],
)
def test_each_broken_dataset_fails_naming_the_expectation(wh, suite, change, label):
    make, params, _ = CASES[suite]
    result = evaluate(wh, suite, broken(make(), **change), params)
    assert not result.success
    assert label in quality.failure_message(result)


def test_label_rate_band_and_row_counts(wh):
    band = {"churn_rate_min": 0.005, "churn_rate_max": 0.6}
    assert not evaluate(wh, "training_labels", label_rows(churn_rate=0.0), band).success
    assert not evaluate(wh, "training_labels", label_rows(churn_rate=0.9), band).success
    wide = {"churn_rate_min": 0.005, "churn_rate_max": 0.95}  # a low-frequency retailer
    assert evaluate(wh, "training_labels", label_rows(churn_rate=0.9), wide).success
    assert not evaluate(wh, "customer_scores", score_rows(9), {"eligible_customers": 10}).success
    assert not evaluate(wh, "raw_transactions", raw_rows().head(0), MAX_TS).success


def test_missing_column_fails_with_its_name(wh):
    result = evaluate(wh, "raw_transactions", raw_rows().drop(columns="STATUS"), MAX_TS)
    assert "missing column(s) ['STATUS']" in quality.failure_message(result)


def test_warning_severity_records_but_passes(wh):
    frame = raw_rows().assign(CHANNEL="Telepathy")
    result = evaluate(wh, "raw_transactions", frame, MAX_TS)
    assert result.success and [r.label for r in result.failed] == [
        "expect_column_values_to_be_in_set(CHANNEL)"
    ]


def test_empty_or_unknown_suites_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "EXPECTATIONS_DIR", tmp_path)
    (tmp_path / "empty.json").write_text(json.dumps({"name": "empty", "expectations": []}))
    with pytest.raises(quality.QualityGateError, match="no expectations"):
        quality.load_suite("empty")


def test_results_are_recorded(wh):
    result = evaluate(wh, "customer_scores", score_rows(), {"eligible_customers": 10})
    quality.record_result(wh, result, "run-9")
    row = wh.fetch_frame("SELECT * FROM ops.quality_results").iloc[0]
    assert row["SUCCESS"] and row["EVALUATED_EXPECTATIONS"] == 6 and row["FLOW_RUN_ID"] == "run-9"


def gx_verdicts(suite_name: str, frame: pd.DataFrame, params: dict) -> list[bool]:
    """Per-expectation success from Great Expectations itself, on pandas."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    spec = quality.load_suite(suite_name)
    context = gx.get_context(mode="ephemeral")
    suite = gx.ExpectationSuite(name=spec["name"])
    for e in spec["expectations"]:
        suite.add_expectation(
            ExpectationConfiguration(
                type=e["type"],
                kwargs=e["kwargs"],
                meta=e["meta"],
                severity=e["severity"],
            ).to_domain_obj()
        )
    batch_def = (
        context.data_sources.add_pandas(f"p{id(frame)}")
        .add_dataframe_asset("a")
        .add_batch_definition_whole_dataframe("b")
    )
    batch = batch_def.get_batch(batch_parameters={"dataframe": frame})
    return [r.success for r in batch.validate(suite, expectation_parameters=params).results]


@pytest.mark.parametrize("suite", list(CASES))
def test_sql_verdicts_match_great_expectations(wh, suite):
    make, params, cases = CASES[suite]
    for change, _ in [({}, None), *cases]:
        frame = broken(make(), **change) if change else make()
        ours = [r.success for r in evaluate(wh, suite, frame, params).results]
        assert ours == gx_verdicts(suite, frame, params), change
