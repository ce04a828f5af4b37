"""Batch scoring with the champion models, staged, gated, then merged in one statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from tasks import progress, registry
from tasks.artifacts import publish_table
from tasks.failpoints import failpoint
from tasks.identifiers import quote_identifier
from tasks.modeling import (
    matrix,
    model_features,
    percentage_points,
    predict_churn,
    predict_clv,
)
from tasks.policy import ScoringPolicy
from tasks.reasons import risk_reasons, typical_customer
from tasks.warehouse import Warehouse

SCORES_TABLE = "ML.CUSTOMER_SCORES"
SCORE_KEYS = ("CUSTOMER_ID", "AS_OF_DATE")


def risk_band(score: np.ndarray, policy: ScoringPolicy | None = None) -> np.ndarray:
    """Low, Medium, High by the policy's cut points (default: Medium from 40, High from 70)."""
    medium, high = (policy or ScoringPolicy()).risk_bands
    return np.select([score >= high, score >= medium], ["High", "Medium"], default="Low")


def value_tier(clv: np.ndarray, policy: ScoringPolicy | None = None) -> np.ndarray:
    """Fixed CLV thresholds from the policy, so a row's tier does not depend on its batch."""
    tiers = sorted((policy or ScoringPolicy()).value_tiers.items(), key=lambda t: -t[1])
    return np.select([clv >= t for _, t in tiers], [n for n, _ in tiers], default="Bronze")


def at_risk_reasons(
    churn: Any,
    features: pd.DataFrame,
    typical: pd.Series,
    risk: np.ndarray,
    policy: ScoringPolicy | None = None,
    importances: dict[str, float] | None = None,
) -> list[str | None]:
    """Reasons for the Medium and High bands, the customers retention acts on.

    Each reason costs one prediction per feature tried, so the Low band (most customers) is
    skipped to keep scoring fast; their RISK_REASONS stay empty.
    """
    at_risk = np.flatnonzero(risk_band(risk, policy) != "Low")
    out: list[str | None] = [None] * len(features)
    if len(at_risk):
        found = risk_reasons(churn, features.iloc[at_risk], typical, importances=importances)
        for i, reasons in zip(at_risk, found, strict=True):
            out[i] = reasons
    return out


def score_frame(
    features: pd.DataFrame,
    churn: Any,
    clv: Any,
    versions: tuple[str, str],
    run_id: str,
    scored_at: pd.Timestamp,
    policy: ScoringPolicy | None = None,
    typical: pd.Series | None = None,
    importances: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Score one batch of feature rows; each model reads its own feature list.

    Reason codes are measured against TYPICAL (the portfolio's median customer; by default
    the batch's own medians), among the churn model's most important features (IMPORTANCES).
    """
    if typical is None:
        typical = matrix(features, model_features(churn)).median().fillna(0.0)
    probability = np.clip(predict_churn(churn, features), 0.0, 1.0)
    predicted = predict_clv(clv, features)
    risk = percentage_points(probability).astype(int)
    return pd.DataFrame(
        {
            "CUSTOMER_ID": features["CUSTOMER_ID"].to_numpy(),
            "AS_OF_DATE": pd.to_datetime(features["AS_OF_DATE"]).dt.date,
            "CHURN_PROBABILITY": probability,
            "CHURN_RISK_SCORE": risk,
            "RISK_BAND": risk_band(risk, policy),
            "PREDICTED_CLV": predicted,
            "EXPECTED_VALUE_AT_RISK": probability * predicted,
            "VALUE_TIER": value_tier(predicted, policy),
            "CHURN_MODEL_VERSION": versions[0],
            "CLV_MODEL_VERSION": versions[1],
            "RISK_REASONS": at_risk_reasons(churn, features, typical, risk, policy, importances),
            "SCORED_AT": scored_at,
            "FLOW_RUN_ID": run_id,
        }
    )


def score_to_staging(
    wh: Warehouse,
    as_of: dt.date,
    models: tuple[Any, Any],
    versions: tuple[str, str],
    run_id: str,
    policy: ScoringPolicy | None = None,
    batch_rows: int = 200_000,
    importances: dict[str, float] | None = None,
) -> tuple[str, int]:
    """Score every customer with features at AS_OF, batch by batch, into a staging table."""
    staging = wh.staging_name(SCORES_TABLE)
    scored_at = pd.Timestamp.now("UTC").tz_localize(None)
    typical = typical_customer(wh, models[0], as_of)
    rows = 0
    batches = wh.fetch_batches(
        "SELECT * FROM features.customer_features WHERE as_of_date = :d", {"d": as_of}, batch_rows
    )
    for batch in batches:
        frame = score_frame(
            batch, *models, versions, run_id, scored_at, policy, typical, importances
        )
        wh.load_staging(frame, staging)
        rows += len(frame)
        progress.advance("score (customers)", rows)
    if rows == 0:
        raise ValueError(f"no features at {as_of}: run the features stage for this date first")
    failpoint("scores.after_staging")
    return staging, rows


def eligible_customers(wh: Warehouse, as_of: dt.date) -> int:
    """Customers with features at AS_OF: the expected number of scores."""
    return int(
        wh.scalar(
            "SELECT COUNT(*) FROM features.customer_features WHERE as_of_date = :d", {"d": as_of}
        )
    )


def stage_scores(
    wh: Warehouse,
    settings: Any,
    as_of: dt.date,
    run_id: str,
    policy: ScoringPolicy | None = None,
) -> tuple[str, int]:
    """Score the customers with features at AS_OF with the champions, into a staging table."""
    registry.configure_mlflow(settings)
    churn, churn_v = registry.load_champion(registry.CHURN_MODEL)
    clv, clv_v = registry.load_champion(registry.CLV_MODEL)
    # the loaded version's own importances, even if a retrain promoted another meanwhile
    importances = registry.model_importances(registry.CHURN_MODEL, churn_v)
    return score_to_staging(
        wh, as_of, (churn, clv), (churn_v, clv_v), run_id, policy, importances=importances
    )


def merge_scores(wh: Warehouse, staging: str) -> None:
    """MERGE staged scores into ML.CUSTOMER_SCORES by (CUSTOMER_ID, AS_OF_DATE)."""
    failpoint("scores.before_publish")
    wh.publish_staging(staging, SCORES_TABLE, wh.columns_of(staging), "merge", SCORE_KEYS)
    failpoint("scores.after_publish")


def publish_scores(wh: Warehouse, staging: str) -> dict[str, int]:
    """MERGE gated scores, drop their staging, refresh ML.CUSTOMER_360; return band counts.

    Staging stays when the MERGE fails, so a retry can publish it.
    """
    merge_scores(wh, staging)
    bands = wh.fetch_frame(
        f"SELECT risk_band, COUNT(*) AS n FROM {quote_identifier(staging)} "
        "GROUP BY risk_band ORDER BY 1"
    )
    wh.drop_table(staging)
    wh.run_sql_file("scoring/10_create_customer_360")
    counts = dict(zip(bands["RISK_BAND"], bands["N"].astype(int), strict=True))
    publish_table("risk-bands", [{"band": k, "customers": v} for k, v in counts.items()])
    return counts
