"""Drift monitoring: population stability index per feature and for the churn score."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tasks import registry
from tasks.artifacts import publish_markdown
from tasks.catalogue import (
    CUMULATIVE_FEATURES,
    PROBABILITY_FEATURES,
    WINDOW_PERIODS,
    WINDOW_TOTALS,
)
from tasks.charts import CHART_DIR, charts_markdown, log_charts, psi_chart
from tasks.modeling import model_features, percentage_points, predict_churn
from tasks.warehouse import Warehouse

SCORE_FEATURE = "CHURN_SCORE"


@dataclass
class DriftReport:
    """PSI per feature between a reference population and the scoring population."""

    as_of: dt.date
    reference_as_of: dt.date
    psi: dict[str, float]
    threshold: float
    not_compared: tuple[str, ...] = ()  # grow by construction, or window not yet observed

    @property
    def drifted(self) -> list[str]:
        """Features whose PSI crosses the threshold, worst first."""
        return sorted(
            (k for k, v in self.psi.items() if v > self.threshold), key=lambda k: -self.psi[k]
        )


def population_stability(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """PSI over the reference's deciles (nulls form their own bin)."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    ref_ok, cur_ok = reference[~np.isnan(reference)], current[~np.isnan(current)]
    if len(ref_ok) == 0 or len(current) == 0:
        return 0.0
    edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray, total: int) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.append(counts, total - len(values)) / max(total, 1)

    eps = 1e-4
    expected = np.clip(shares(ref_ok, len(reference)), eps, None)
    actual = np.clip(shares(cur_ok, len(current)), eps, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def fetch_features(wh: Warehouse, dates: list[dt.date]) -> pd.DataFrame:
    """Feature rows at the given cut-offs (bounded: customers x cut-offs)."""
    frames = [
        wh.fetch_frame("SELECT * FROM features.customer_features WHERE as_of_date = :d", {"d": d})
        for d in dates
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def comparable(frame: pd.DataFrame, feature: str) -> np.ndarray | None:
    """FEATURE as compared across cut-offs: totals per observed day (None: not comparable).

    Probabilities are compared in whole percentage points (see PROBABILITY_FEATURES).
    Lifetime totals are divided by tenure, window totals by the part of the window the
    customer's history covers: a young log (or customer) then compares like with like, and
    on a mature one the scaling is a constant that leaves the PSI unchanged.
    """
    if feature == "TENURE_DAYS":
        return None  # grows by exactly the days between the cut-offs
    values = frame[feature].to_numpy(float)
    if feature in PROBABILITY_FEATURES:
        return percentage_points(values)
    if feature not in CUMULATIVE_FEATURES and feature not in WINDOW_TOTALS | WINDOW_PERIODS:
        return values
    tenure = frame["TENURE_DAYS"].to_numpy(float)
    if feature in WINDOW_PERIODS:
        # A count of periods has no per-day rate: it is comparable only once most customers'
        # history covers the whole window (a young log's reference is left out, not alarmed).
        periods, days = WINDOW_PERIODS[feature]
        return values if np.nanmedian(tenure) >= periods * days else None
    observed = np.minimum(tenure, WINDOW_TOTALS.get(feature, np.inf))
    return values / np.where(observed > 0, observed, np.nan)


def compute_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: tuple[str, ...],
    churn_model: object | None,
    as_of: dt.date,
    reference_as_of: dt.date,
    threshold: float,
) -> DriftReport:
    """PSI for every model feature and, given a model, for its churn score."""
    if current.empty or reference.empty:
        raise ValueError("drift needs features at both the reference and the scoring cut-off")
    psi, skipped = {}, []
    for f in features:
        ref, cur = comparable(reference, f), comparable(current, f)
        if ref is not None and cur is not None:
            psi[f] = population_stability(ref, cur)
        else:
            skipped.append(f)
    if churn_model is not None:
        psi[SCORE_FEATURE] = population_stability(
            percentage_points(predict_churn(churn_model, reference)),
            percentage_points(predict_churn(churn_model, current)),
        )
    return DriftReport(as_of, reference_as_of, psi, threshold, tuple(skipped))


def record_drift(wh: Warehouse, report: DriftReport, run_id: str) -> int:
    """MERGE one row per (run, feature) into ML.DRIFT_METRICS."""
    frame = pd.DataFrame(
        {
            "FLOW_RUN_ID": run_id,
            "FEATURE_NAME": list(report.psi),
            "AS_OF_DATE": report.as_of,
            "REFERENCE_AS_OF_DATE": report.reference_as_of,
            "PSI": list(report.psi.values()),
            "DRIFTED": [v > report.threshold for v in report.psi.values()],
            "COMPUTED_AT": pd.Timestamp.now("UTC").tz_localize(None),
        }
    )
    return wh.write_frame(frame, "ML.DRIFT_METRICS", "merge", ("FLOW_RUN_ID", "FEATURE_NAME"))


def drift_markdown(report: DriftReport) -> str:
    """Markdown table of PSI per feature, drifted ones first."""
    order = sorted(report.psi, key=lambda k: -report.psi[k])
    lines = [
        f"### Drift at {report.as_of} vs training reference {report.reference_as_of}",
        f"Drifted (PSI > {report.threshold}): {', '.join(report.drifted) or 'none'}",
        f"Not compared (grow by construction or window longer than the history): "
        f"{', '.join(report.not_compared) or 'none'}",
        "",
        "| feature | PSI | drifted |",
        "|---|---|---|",
    ]
    lines += [
        f"| {k} | {report.psi[k]:.4f} | {'YES' if report.psi[k] > report.threshold else ''} |"
        for k in order
    ]
    return "\n".join(lines)


def log_drift_run(report: DriftReport, charts: dict[str, bytes]) -> str:
    """One MLflow run per drift check: PSI per feature as metrics, the chart; its run id."""
    import mlflow

    with mlflow.start_run(run_name=f"drift-{report.as_of}", tags={"lifeline.kind": "drift"}) as run:
        mlflow.log_params(
            {
                "as_of": str(report.as_of),
                "reference_as_of": str(report.reference_as_of),
                "threshold": str(report.threshold),
                "not_compared": ",".join(report.not_compared) or "none",
            }
        )
        mlflow.log_metrics({f"psi_{k}": v for k, v in report.psi.items() if np.isfinite(v)})
        mlflow.log_metric("drifted_features", len(report.drifted))
        log_charts(charts)
    return run.info.run_id


def monitor_drift(
    wh: Warehouse, settings: Any, as_of: dt.date, threshold: float, run_id: str
) -> DriftReport:
    """PSI of the population at AS_OF against the champion's latest labelled cut-off; recorded.

    Like with like: one whole customer base at one cut-off against another, on the
    champions' own inputs (cumulative ones per day of tenure).
    """
    registry.configure_mlflow(settings)
    params = registry.champion_training_params(registry.CHURN_MODEL)
    reference_as_of = dt.date.fromisoformat(params["as_of"]) - dt.timedelta(
        days=int(params["horizon_days"])
    )
    churn, _ = registry.load_champion(registry.CHURN_MODEL)
    clv, _ = registry.load_champion(registry.CLV_MODEL)
    inputs = dict.fromkeys(model_features(churn) + model_features(clv))
    report = compute_drift(
        fetch_features(wh, [reference_as_of]),
        fetch_features(wh, [as_of]),
        tuple(inputs),
        churn,
        as_of,
        reference_as_of,
        threshold,
    )
    record_drift(wh, report, run_id)
    charts = {f"{CHART_DIR}/drift_psi.png": psi_chart(report.psi, threshold)}
    mlflow_run = log_drift_run(report, charts)
    pictures = charts_markdown(charts, settings.tracking_uri, mlflow_run)
    publish_markdown("drift", f"{drift_markdown(report)}\n\n{pictures}")
    return report
