"""Back-test: published scores at a cut-off against what the customers then did.

Needs transactions after the cut-off in RAW (a back-test on history, or a later check once
the horizon has passed). Every baseline is scored on the same customers and outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from tasks.modeling import churn_metrics, clv_metrics
from tasks.warehouse import Warehouse

OUTCOME_SQL = """
SELECT s.customer_id, s.churn_probability, s.predicted_clv,
       f.recency_days, f.spend_90, f.bgnbd_p_no_purchase, f.pnbd_p_no_purchase,
       f.bgnbd_expected_value, f.pnbd_expected_value,
       COALESCE(o.purchases, 0) AS purchases, COALESCE(o.spend, 0) AS spend
FROM ml.customer_scores AS s
INNER JOIN features.customer_features AS f
    ON f.customer_id = s.customer_id AND f.as_of_date = s.as_of_date
LEFT JOIN (
    SELECT customer_id, COUNT(*) AS purchases, SUM(amount) AS spend
    FROM raw.transactions
    WHERE txn_ts >= :as_of AND txn_ts < :until AND COALESCE(LOWER(status), 'approved') = 'approved'
    GROUP BY customer_id
) AS o ON o.customer_id = s.customer_id
WHERE s.as_of_date = :as_of
"""


def outcome_frame(wh: Warehouse, as_of: dt.date, horizon_days: int) -> pd.DataFrame:
    """Scores, baseline inputs and the actual outcome in [AS_OF, AS_OF + horizon)."""
    until = as_of + dt.timedelta(days=horizon_days)
    latest = wh.scalar("SELECT MAX(txn_ts) FROM raw.transactions")
    if latest is None or latest.date() < until - dt.timedelta(days=1):
        raise ValueError(
            f"the outcome window {as_of}..{until} is not in RAW.TRANSACTIONS yet "
            f"(latest transaction {latest})"
        )
    frame = wh.fetch_frame(OUTCOME_SQL, {"as_of": as_of, "until": until})
    if frame.empty:
        raise ValueError(f"no published scores at {as_of}: run the pipeline with --as-of {as_of}")
    return frame


def evaluate_outcome(frame: pd.DataFrame, horizon_days: int) -> dict[str, dict[str, float]]:
    """Churn and CLV metrics of the served scores and of every baseline, on the outcome."""
    churned = (frame["PURCHASES"].to_numpy(float) == 0).astype(int)
    actual = np.clip(frame["SPEND"].to_numpy(float), 0, None)

    def column(name: str) -> np.ndarray:
        values = frame[name].to_numpy(float)
        if np.isnan(values).all():  # a baseline not fitted at this cut-off: left out below
            return values
        return np.where(np.isnan(values), np.nanmean(values), values)

    churn_scores = {
        "served": column("CHURN_PROBABILITY"),
        "bgnbd": column("BGNBD_P_NO_PURCHASE"),
        "pnbd": column("PNBD_P_NO_PURCHASE"),
        "recency": column("RECENCY_DAYS"),
    }
    values = {
        "served": column("PREDICTED_CLV"),
        "bgnbd_gg": column("BGNBD_EXPECTED_VALUE"),
        "pnbd_gg": column("PNBD_EXPECTED_VALUE"),
        "trailing_spend": np.clip(column("SPEND_90") * horizon_days / 90, 0, None),
    }
    report: dict[str, dict[str, float]] = {}
    for name, score in churn_scores.items():
        if np.isfinite(score).all():
            if name == "recency":  # days, not a probability: rank only
                found = churn_metrics(churned, score / max(score.max(), 1.0))
                found |= {"ece": float("nan"), "brier": float("nan")}
            else:
                found = churn_metrics(churned, score)
            report[f"churn {name}"] = found
    for name, predicted in values.items():
        if np.isfinite(predicted).all():
            report[f"clv {name}"] = clv_metrics(actual, predicted)
    report["outcome"] = {
        "customers": float(len(frame)),
        "churn_rate": float(churned.mean()),
        "total_spend": float(actual.sum()),
    }
    return report


def evaluate_scores(wh: Warehouse, as_of: dt.date, horizon_days: int) -> dict[str, Any]:
    """The whole back-test at AS_OF: every model and baseline on the same outcome."""
    return evaluate_outcome(outcome_frame(wh, as_of, horizon_days), horizon_days)


def evaluation_text(report: dict[str, dict[str, float]]) -> str:
    """A fixed-width table of the back-test, one line per model."""
    outcome = report["outcome"]
    lines = [
        f"outcome: {outcome['customers']:,.0f} customers, churn rate {outcome['churn_rate']:.3f}, "
        f"spend {outcome['total_spend']:,.0f}",
        f"{'churn model':<22}{'ROC AUC':>9}{'PR AUC':>9}{'ECE':>9}",
    ]
    for name, m in report.items():
        if name.startswith("churn "):
            lines.append(f"{name[6:]:<22}{m['roc_auc']:>9.4f}{m['pr_auc']:>9.4f}{m['ece']:>9.4f}")
    lines.append(f"{'CLV model':<22}{'RMSE':>9}{'MAE':>9}{'Spearman':>9}{'total/actual':>13}")
    for name, m in report.items():
        if name.startswith("clv "):
            ratio = m["total_predicted"] / m["total_actual"] if m["total_actual"] else np.nan
            lines.append(
                f"{name[4:]:<22}{m['rmse']:>9.2f}{m['mae']:>9.2f}{m['spearman']:>9.4f}"
                f"{ratio:>13.3f}"
            )
    return "\n".join(lines)
