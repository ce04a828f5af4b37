"""Scoring: bands, tiers, idempotent MERGE on DuckDB and on the Snowflake adapter."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tasks import scoring
from tasks.catalogue import FEATURE_NAMES

AS_OF = dt.date(2025, 6, 1)


class Constant:
    """A stand-in model with the scikit-learn predict/predict_proba surface."""

    feature_names_in_ = np.array(FEATURE_NAMES)

    def predict_proba(self, x):
        p = np.linspace(0.05, 0.95, len(x))
        return np.column_stack([1 - p, p])

    def predict(self, x):
        return np.linspace(-10, 20000, len(x))


def seed_features(wh, n: int = 25) -> None:
    """Feature rows for N customers at AS_OF."""
    frame = pd.DataFrame(np.ones((n, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    frame.insert(0, "AS_OF_DATE", AS_OF)
    frame.insert(0, "CUSTOMER_ID", [f"C{i:03d}" for i in range(n)])
    wh.load_staging(frame, "FEATURES.CUSTOMER_FEATURES")


def score_twice(wh) -> list[pd.DataFrame]:
    """Stage + publish the same scores twice; return the table after each."""
    seen = []
    for run in ("run-1", "run-2"):
        staging, rows = scoring.score_to_staging(
            wh, AS_OF, (Constant(), Constant()), ("3", "4"), run, batch_rows=7
        )
        assert rows == 25
        scoring.publish_scores(wh, staging)
        assert not wh.table_exists(staging)
        seen.append(wh.fetch_frame("SELECT * FROM ml.customer_scores ORDER BY customer_id"))
    return seen


def check_idempotent(seen: list[pd.DataFrame]) -> None:
    """Same keys and values after a re-run; only lineage columns may change."""
    first, second = seen
    assert len(first) == len(second) == 25
    assert first["CUSTOMER_ID"].is_unique
    values = [
        "CUSTOMER_ID",
        "CHURN_PROBABILITY",
        "CHURN_RISK_SCORE",
        "RISK_BAND",
        "PREDICTED_CLV",
        "VALUE_TIER",
        "CHURN_MODEL_VERSION",
        "CLV_MODEL_VERSION",
    ]
    pd.testing.assert_frame_equal(first[values], second[values])
    assert set(second["FLOW_RUN_ID"]) == {"run-2"}


@pytest.mark.scenario(1)
def test_scores_are_idempotent_on_duckdb(wh):
    seed_features(wh)
    seen = score_twice(wh)
    check_idempotent(seen)
    row = seen[1].iloc[-1]
    assert row["RISK_BAND"] == "High" and row["CHURN_RISK_SCORE"] == 95
    assert row["VALUE_TIER"] == "Platinum"
    assert seen[1]["PREDICTED_CLV"].min() == 0  # clipped at zero
    assert (seen[1]["EXPECTED_VALUE_AT_RISK"] <= seen[1]["PREDICTED_CLV"] + 1e-9).all()


@pytest.mark.scenario(1)
def test_scores_are_idempotent_on_snowflake_adapter():
    import fakesnow
    import snowflake.connector

    from tasks.warehouse.snowflake import SnowflakeWarehouse

    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        sf = SnowflakeWarehouse(snowflake.connector.connect(), "LIFELINE")
        sf.bootstrap()
        seed_features(sf)
        check_idempotent(score_twice(sf))


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "Low"), (39, "Low"), (40, "Medium"), (69, "Medium"), (70, "High"), (100, "High")],
)
def test_risk_bands(score, band):
    assert scoring.risk_band(np.array([score]))[0] == band
