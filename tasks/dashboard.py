"""The dashboard's reads: parameterised, bounded queries through the Warehouse port.

Every query names a scoring date or a customer and caps its rows, so a page never scans the
whole scores or transaction table per interaction (the app caches each by its arguments).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.identifiers import quote_identifier
from tasks.settings import LifelineSettings
from tasks.warehouse import Warehouse

ATTRIBUTES = ("AGE", "STATE", "EMPLOYMENT_STATUS", "CARD_TYPE", "SEGMENT", "CREDIT_LIMIT")
LIST_LIMIT = 100_000  # rows a segment export may hold
SHOWN = 500  # rows a page shows


@dataclass(frozen=True)
class Segment:
    """A target list: scores at one date filtered by band, tier, thresholds and attributes."""

    as_of: dt.date
    bands: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()
    min_probability: float = 0.0
    min_clv: float = 0.0
    attributes: tuple[tuple[str, str], ...] = ()


def scoring_dates(wh: Warehouse, limit: int = 36) -> list[dt.date]:
    """The latest scoring dates, newest first."""
    frame = wh.fetch_frame(
        "SELECT DISTINCT as_of_date AS d FROM ml.customer_scores ORDER BY d DESC LIMIT :n",
        {"n": limit},
    )
    return [pd.Timestamp(d).date() for d in frame["D"]]


def portfolio(wh: Warehouse, as_of: dt.date) -> pd.DataFrame:
    """Customers, CLV and expected value at risk by risk band and value tier at AS_OF."""
    return wh.fetch_frame(
        "SELECT risk_band, value_tier, COUNT(*) AS customers, SUM(predicted_clv) AS clv, "
        "SUM(expected_value_at_risk) AS value_at_risk FROM ml.customer_scores "
        "WHERE as_of_date = :d GROUP BY risk_band, value_tier ORDER BY 1, 2",
        {"d": as_of},
    )


def band_history(wh: Warehouse, dates: list[dt.date]) -> pd.DataFrame:
    """Customers and value at risk per risk band at each of DATES."""
    if not dates:
        return pd.DataFrame(columns=["AS_OF_DATE", "RISK_BAND", "CUSTOMERS", "VALUE_AT_RISK"])
    return wh.fetch_frame(
        "SELECT as_of_date, risk_band, COUNT(*) AS customers, "
        "SUM(expected_value_at_risk) AS value_at_risk FROM ml.customer_scores "
        "WHERE as_of_date BETWEEN :first AND :last GROUP BY 1, 2 ORDER BY 1, 2",
        {"first": min(dates), "last": max(dates)},
    )


def customer_attributes(wh: Warehouse) -> list[str]:
    """The customer-file attributes this warehouse has values for."""
    counts = ", ".join(f"COUNT({a}) AS {a}" for a in ATTRIBUTES)
    row = wh.fetch_frame(f"SELECT {counts} FROM raw.customers")
    return [a for a in ATTRIBUTES if len(row) and int(row.iloc[0][a] or 0) > 0]


def attribute_values(wh: Warehouse, attribute: str, limit: int = 200) -> list[str]:
    """The most common values of one customer attribute."""
    column = attribute_column(attribute)
    frame = wh.fetch_frame(
        f"SELECT CAST({column} AS VARCHAR) AS v, COUNT(*) AS n FROM raw.customers AS c "
        f"WHERE {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT :n",
        {"n": limit},
    )
    return [str(v) for v in frame["V"]]


def attribute_column(attribute: str) -> str:
    """A customer attribute as a safe column reference (only the known ones)."""
    name = attribute.upper()
    if name not in ATTRIBUTES:
        raise ValueError(
            f"unknown customer attribute {attribute!r}: one of {', '.join(ATTRIBUTES)}"
        )
    return f"c.{quote_identifier(name, 1)}"


def find_customers(
    wh: Warehouse,
    as_of: dt.date,
    text: str = "",
    attribute: str | None = None,
    value: str | None = None,
    limit: int = 50,
) -> pd.DataFrame:
    """Customers scored at AS_OF whose id starts with TEXT and whose ATTRIBUTE equals VALUE."""
    where, params = ["s.as_of_date = :d"], {"d": as_of, "n": limit}
    if text.strip():
        # a plain prefix comparison: LIKE would read % and _ in ids as wildcards
        where.append("SUBSTR(s.customer_id, 1, :prefix_len) = :prefix")
        params |= {"prefix": text.strip(), "prefix_len": len(text.strip())}
    if attribute and value is not None:
        where.append(f"CAST({attribute_column(attribute)} AS VARCHAR) = :value")
        params["value"] = value
    return wh.fetch_frame(
        "SELECT s.customer_id, s.risk_band, s.churn_probability, s.predicted_clv, "
        "s.value_tier FROM ml.customer_scores AS s LEFT JOIN raw.customers AS c "
        f"ON s.customer_id = c.customer_id WHERE {' AND '.join(where)} "
        "ORDER BY s.customer_id LIMIT :n",
        params,
    )


def customer_profile(wh: Warehouse, customer_id: str) -> pd.DataFrame:
    """One customer's attributes (empty when the customer file does not have them)."""
    columns = ", ".join(f"c.{a}" for a in ATTRIBUTES)
    return wh.fetch_frame(
        f"SELECT c.customer_id, {columns} FROM raw.customers AS c WHERE c.customer_id = :id",
        {"id": customer_id},
    )


def score_history(wh: Warehouse, customer_id: str, limit: int = 36) -> pd.DataFrame:
    """One customer's scores over the latest scoring dates, oldest first."""
    frame = wh.fetch_frame(
        "SELECT as_of_date, churn_probability, churn_risk_score, risk_band, predicted_clv, "
        "expected_value_at_risk, value_tier, churn_model_version, risk_reasons "
        "FROM ml.customer_scores WHERE customer_id = :id ORDER BY as_of_date DESC LIMIT :n",
        {"id": customer_id, "n": limit},
    )
    return frame.iloc[::-1].reset_index(drop=True)


def reasons_table(risk_reasons: str | None) -> pd.DataFrame:
    """A score's stored reasons as a table: feature, the customer's value, effect, direction."""
    rows = json.loads(risk_reasons) if risk_reasons else []
    return pd.DataFrame(rows, columns=["feature", "value", "effect", "direction"])


def purchase_history(wh: Warehouse, customer_id: str) -> pd.DataFrame:
    """One customer's spend and transactions per month."""
    return wh.fetch_frame(
        "SELECT DATE_TRUNC('month', txn_ts) AS month, SUM(amount) AS spend, "
        "COUNT(*) AS transactions FROM raw.transactions WHERE customer_id = :id "
        "GROUP BY 1 ORDER BY 1",
        {"id": customer_id},
    )


def purchase_mix(wh: Warehouse, customer_id: str, column: str) -> pd.DataFrame:
    """One customer's spend by CATEGORY or CHANNEL (empty where the log has none)."""
    if column.upper() not in ("CATEGORY", "CHANNEL"):
        raise ValueError(f"no purchase mix by {column!r}")
    return wh.fetch_frame(
        f"SELECT {column} AS name, SUM(amount) AS spend, COUNT(*) AS transactions "
        f"FROM raw.transactions WHERE customer_id = :id AND {column} IS NOT NULL "
        "GROUP BY 1 ORDER BY spend DESC LIMIT 20",
        {"id": customer_id},
    )


def segment_where(segment: Segment) -> tuple[str, dict]:
    """The WHERE clause and binds of a segment (the attribute names are whitelisted)."""
    where = [
        "s.as_of_date = :d",
        "s.churn_probability >= :p",
        "s.predicted_clv >= :v",
    ]
    params: dict = {"d": segment.as_of, "p": segment.min_probability, "v": segment.min_clv}
    for name, values in (("risk_band", segment.bands), ("value_tier", segment.tiers)):
        if values:
            marks = [f":{name}_{i}" for i in range(len(values))]
            where.append(f"s.{name} IN ({', '.join(marks)})")
            params.update({m[1:]: v for m, v in zip(marks, values, strict=True)})
    for i, (attribute, value) in enumerate(segment.attributes):
        where.append(f"CAST({attribute_column(attribute)} AS VARCHAR) = :attr_{i}")
        params[f"attr_{i}"] = value
    return " AND ".join(where), params


def segment_summary(wh: Warehouse, segment: Segment) -> pd.DataFrame:
    """Customers, CLV, value at risk and mean P(churn) of a segment, by risk band."""
    where, params = segment_where(segment)
    return wh.fetch_frame(
        "SELECT s.risk_band, COUNT(*) AS customers, SUM(s.predicted_clv) AS clv, "
        "SUM(s.expected_value_at_risk) AS value_at_risk, "
        "AVG(s.churn_probability) AS mean_probability FROM ml.customer_scores AS s "
        f"LEFT JOIN raw.customers AS c ON s.customer_id = c.customer_id WHERE {where} "
        "GROUP BY 1 ORDER BY 1",
        params,
    )


def segment_list(wh: Warehouse, segment: Segment, limit: int = LIST_LIMIT) -> pd.DataFrame:
    """A segment's customers, most value at risk first (the exported target list)."""
    where, params = segment_where(segment)
    return wh.fetch_frame(
        "SELECT s.customer_id, s.risk_band, s.value_tier, s.churn_probability, "
        "s.predicted_clv, s.expected_value_at_risk, s.risk_reasons FROM ml.customer_scores AS s "
        f"LEFT JOIN raw.customers AS c ON s.customer_id = c.customer_id WHERE {where} "
        "ORDER BY s.expected_value_at_risk DESC, s.customer_id LIMIT :n",
        params | {"n": limit},
    )


@dataclass(frozen=True)
class Campaign:
    """A retention offer: what each contact costs and what share of would-be churners stays."""

    incentive: float
    contact_cost: float
    retention_rate: float


def campaign_roi(probability: np.ndarray, clv: np.ndarray, campaign: Campaign) -> dict:
    """Cost, retained customers and value, ROI and breakeven of offering CAMPAIGN to everyone.

    Everyone targeted is contacted and given the incentive; of those who would churn
    (expected: the sum of P(churn)), RETENTION_RATE stay and keep their predicted CLV.
    """
    customers = len(probability)
    cost = customers * (campaign.incentive + campaign.contact_cost)
    at_stake = float(np.sum(probability * clv))  # expected value at risk of the audience
    retained_value = campaign.retention_rate * at_stake
    return {
        "customers": customers,
        "expected_churners": float(np.sum(probability)),
        "value_at_risk": at_stake,
        "cost": cost,
        "retained_customers": campaign.retention_rate * float(np.sum(probability)),
        "retained_value": retained_value,
        "net": retained_value - cost,
        "roi": (retained_value - cost) / cost if cost else float("nan"),
        "breakeven_retention_rate": cost / at_stake if at_stake else float("nan"),
    }


def roi_sensitivity(
    probability: np.ndarray, clv: np.ndarray, campaign: Campaign, points: int = 21
) -> pd.DataFrame:
    """ROI and net value as the retention rate runs from 0 to 100%."""
    rows = []
    for rate in np.linspace(0.0, 1.0, points):
        result = campaign_roi(
            probability, clv, Campaign(campaign.incentive, campaign.contact_cost, rate)
        )
        rows.append({"retention_rate": rate, "roi": result["roi"], "net": result["net"]})
    return pd.DataFrame(rows)


def realised_history(wh: Warehouse, limit: int = 24) -> pd.DataFrame:
    """Past scoring dates judged on what customers then did, newest first."""
    return wh.fetch_frame(
        "SELECT as_of_date, customers, roc_auc, holdout_roc_auc, ece, holdout_ece, "
        "predicted_value, actual_value, churn_model_version, degraded "
        "FROM ml.realised_performance ORDER BY as_of_date DESC LIMIT :n",
        {"n": limit},
    )


def drift_history(wh: Warehouse, limit: int = 24) -> pd.DataFrame:
    """The largest PSI and drifted features of the latest drift checks."""
    return wh.fetch_frame(
        "SELECT as_of_date, reference_as_of_date, MAX(psi) AS max_psi, "
        "SUM(CASE WHEN drifted THEN 1 ELSE 0 END) AS drifted_features, "
        "MAX(computed_at) AS computed_at FROM ml.drift_metrics "
        "GROUP BY 1, 2 ORDER BY computed_at DESC LIMIT :n",
        {"n": limit},
    )


def gate_history(wh: Warehouse, limit: int = 50) -> pd.DataFrame:
    """The latest quality gate results."""
    return wh.fetch_frame(
        "SELECT validated_at, suite_name, dataset, success, severity, failed_expectations, "
        "failed_names FROM ops.quality_results ORDER BY validated_at DESC LIMIT :n",
        {"n": limit},
    )


def last_runs(wh: Warehouse, limit: int = 20) -> pd.DataFrame:
    """The latest pipeline runs, with their error when they failed."""
    return wh.fetch_frame(
        "SELECT started_at, finished_at, flow_name, status, error FROM ops.pipeline_runs "
        "ORDER BY started_at DESC LIMIT :n",
        {"n": limit},
    )


def candidate_metrics(metrics: dict[str, float]) -> pd.DataFrame:
    """A training run's holdout metrics as (task, candidate, metric, value) rows."""
    from tasks.registry import CHURN_CANDIDATES, CLV_CANDIDATES

    rows, metrics = [], dict(metrics)  # each metric is claimed once, by its longest key
    for task, names in (("churn", CHURN_CANDIDATES), ("clv", CLV_CANDIDATES)):
        # longest keys first, so blend_bgnbd_gg is not read as bgnbd_gg's metric
        for key in sorted(names, key=len, reverse=True):
            prefix = f"{task}_{key}_"
            for name in [m for m in metrics if m.startswith(prefix)]:
                value = metrics.pop(name)
                rows.append(
                    {
                        "task": task,
                        "candidate": names[key],
                        "metric": name[len(prefix) :],
                        "value": value,
                    }
                )
    return pd.DataFrame(rows, columns=["task", "candidate", "metric", "value"])


def champion_health(settings: LifelineSettings) -> dict | None:
    """The churn champion's version, its run's holdout metrics and calibration chart (PNG)."""
    from tasks.charts import CHART_DIR
    from tasks.registry import CHURN_MODEL, champion, configure_mlflow

    client = configure_mlflow(settings)
    current = champion(client, CHURN_MODEL)
    if current is None:
        return None
    run = client.get_run(current.run_id)
    try:
        import mlflow

        path = mlflow.artifacts.download_artifacts(
            run_id=current.run_id, artifact_path=f"{CHART_DIR}/churn_calibration.png"
        )
        with open(path, "rb") as fh:
            calibration = fh.read()
    except Exception:  # noqa: BLE001 - an old run without the chart still has its metrics
        calibration = None
    return {
        "version": str(current.version),
        "trained": run.data.params.get("as_of", ""),
        "metrics": candidate_metrics(dict(run.data.metrics)),
        "calibration": calibration,
    }
