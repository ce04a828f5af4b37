"""The loop closes: past scores against what the customers then did, once the horizon passed.

Each scoring date whose outcome window is complete in RAW is evaluated once (the back-test of
tasks/evaluation.py), stored in ML.REALISED_PERFORMANCE beside the holdout metrics of the
model version that scored it, and flagged when it falls short of that holdout by more than
the policy's margins.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd

from tasks import registry
from tasks.evaluation import evaluate_scores
from tasks.policy import MonitoringPolicy
from tasks.warehouse import Warehouse

TABLE = "ML.REALISED_PERFORMANCE"


def due_dates(wh: Warehouse, horizon_days: int) -> list[dt.date]:
    """Scoring dates whose whole outcome window is in RAW and that are not evaluated yet."""
    latest = wh.scalar("SELECT MAX(txn_ts) FROM raw.transactions")
    if latest is None:
        return []

    def dates(sql: str) -> set[dt.date]:
        return {pd.Timestamp(v).date() for v in wh.fetch_frame(sql)["AS_OF_DATE"]}

    done = dates("SELECT as_of_date FROM ml.realised_performance")
    scored = dates("SELECT DISTINCT as_of_date FROM ml.customer_scores")
    complete = latest.date() + dt.timedelta(days=1)
    return sorted(d for d in scored - done if d + dt.timedelta(days=horizon_days) <= complete)


def holdout_metrics(version: str) -> dict[str, float]:
    """The churn holdout metrics logged with the run that trained this churn model version."""
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = client.get_model_version(registry.CHURN_MODEL, version).run_id
    return client.get_run(run_id).data.metrics


def realised_row(
    wh: Warehouse, as_of: dt.date, horizon_days: int, policy: MonitoringPolicy, run_id: str
) -> dict[str, Any]:
    """One scoring date's realised performance, beside its model's holdout."""
    report = evaluate_scores(wh, as_of, horizon_days)
    churn, clv, outcome = report["churn served"], report["clv served"], report["outcome"]
    version = str(
        wh.scalar(
            "SELECT MAX(churn_model_version) FROM ml.customer_scores WHERE as_of_date = :d",
            {"d": as_of},
        )
    )
    holdout = holdout_metrics(version)
    auc, ece = holdout.get("churn_roc_auc", math.nan), holdout.get("churn_ece", math.nan)
    reasons = []
    if churn["roc_auc"] < auc - policy.realised_auc_margin:
        reasons.append(f"ROC AUC {churn['roc_auc']:.3f} vs holdout {auc:.3f}")
    if churn["ece"] > ece + policy.realised_ece_margin:
        reasons.append(f"ECE {churn['ece']:.3f} vs holdout {ece:.3f}")
    return {
        "AS_OF_DATE": as_of,
        "HORIZON_DAYS": horizon_days,
        "CUSTOMERS": int(outcome["customers"]),
        "CHURN_RATE": outcome["churn_rate"],
        "ROC_AUC": churn["roc_auc"],
        "ECE": churn["ece"],
        "HOLDOUT_ROC_AUC": auc,
        "HOLDOUT_ECE": ece,
        "PREDICTED_VALUE": clv["total_predicted"],
        "ACTUAL_VALUE": clv["total_actual"],
        "CLV_SPEARMAN": clv["spearman"],
        "CHURN_MODEL_VERSION": version,
        "DEGRADED": bool(reasons),
        "REASON": "; ".join(reasons) or None,
        "EVALUATED_AT": pd.Timestamp.now("UTC").tz_localize(None),
        "FLOW_RUN_ID": run_id,
    }


def record_realised(
    wh: Warehouse, horizon_days: int, policy: MonitoringPolicy, run_id: str
) -> pd.DataFrame:
    """Evaluate every due scoring date and MERGE the rows (a re-run rewrites the same rows)."""
    rows = [realised_row(wh, d, horizon_days, policy, run_id) for d in due_dates(wh, horizon_days)]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        wh.write_frame(frame, TABLE, "merge", ("AS_OF_DATE",))
    return frame


def check_realised(
    wh: Warehouse, settings: Any, policy: MonitoringPolicy, run_id: str
) -> pd.DataFrame:
    """The unit the monitoring flow runs: every due scoring date, at the champion's horizon."""
    registry.configure_mlflow(settings)
    horizon = int(registry.champion_training_params(registry.CHURN_MODEL)["horizon_days"])
    return record_realised(wh, horizon, policy, run_id)


def realised_markdown(wh: Warehouse) -> str:
    """The latest realised rows as a Prefect markdown artifact."""
    recent = wh.fetch_frame(
        "SELECT as_of_date, customers, roc_auc, holdout_roc_auc, ece, holdout_ece, "
        "predicted_value, actual_value, degraded FROM ml.realised_performance "
        "ORDER BY as_of_date DESC LIMIT 12"
    )
    lines = [
        "### Realised performance of past scores",
        "",
        "| scored at | customers | ROC AUC (holdout) | ECE (holdout) | value predicted / actual "
        "| below holdout |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in recent.itertuples(index=False):
        lines.append(
            f"| {r.AS_OF_DATE} | {r.CUSTOMERS:,} | {r.ROC_AUC:.3f} ({r.HOLDOUT_ROC_AUC:.3f}) | "
            f"{r.ECE:.3f} ({r.HOLDOUT_ECE:.3f}) | {r.PREDICTED_VALUE:,.0f} / "
            f"{r.ACTUAL_VALUE:,.0f} | {'yes' if r.DEGRADED else 'no'} |"
        )
    if recent.empty:
        lines.append("| no scoring date has a complete outcome window yet | | | | | |")
    return "\n".join(lines)
