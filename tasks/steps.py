"""The pipeline's steps, written once: flows, the benchmark and the crash harness all run these.

A step calls its units through a `Units` table: the plain domain functions (`PLAIN`, no
Prefect) or their Prefect task bindings (`tasks.prefect_tasks.PREFECT`). Each unit does a
whole piece of work; a step only orders units, gates staging before publishing and times itself.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tasks import (
    drift,
    features,
    ingest,
    quality,
    realised,
    registry,
    scoring,
    synthetic,
    training,
)
from tasks.alerts import DRIFT_EVENT, PERFORMANCE_EVENT, emit_alert_event, warehouse_resource
from tasks.artifacts import publish_markdown
from tasks.features import drop_stale_staging
from tasks.guard import publish_lock
from tasks.params import DriftParams, FeatureParams, IngestParams, StepParams, TrainParams
from tasks.policy import Policy
from tasks.runs import RunLog, record_run
from tasks.settings import LifelineSettings
from tasks.warehouse import Warehouse, open_warehouse

T = TypeVar("T")


@dataclass(frozen=True)
class Units:
    """The units of work a step calls: plain functions or their Prefect bindings."""

    ensure_portfolio: Callable[..., Any]
    ingest_source: Callable[..., Any]
    validate_dataset: Callable[..., Any]
    stage_features: Callable[..., Any]
    publish_features: Callable[..., Any]
    train_models: Callable[..., Any]
    register_models: Callable[..., Any]
    stage_scores: Callable[..., Any]
    publish_scores: Callable[..., Any]
    monitor_drift: Callable[..., Any]
    check_realised: Callable[..., Any]


PLAIN = Units(
    ensure_portfolio=synthetic.ensure_portfolio,
    ingest_source=ingest.ingest_source,
    validate_dataset=quality.validate_dataset,
    stage_features=features.stage_features,
    publish_features=features.publish_features,
    train_models=training.train_models,
    register_models=registry.register_models,
    stage_scores=scoring.stage_scores,
    publish_scores=scoring.publish_scores,
    monitor_drift=drift.monitor_drift,
    check_realised=realised.check_realised,
)


@dataclass(frozen=True)
class StepRun:
    """What every step works with: its units, the settings, the warehouse and the run log."""

    units: Units
    settings: LifelineSettings
    wh: Warehouse
    log: RunLog
    policy: Policy


@contextmanager
def run_session(
    flow_name: str, params: StepParams, run_id: str, settings: LifelineSettings, units: Units
) -> Iterator[StepRun]:
    """Hold the publish lock, open the warehouse once, record the run and its outcome in OPS.

    The policy file is read and validated first: a bad file stops the run before any work.
    """
    policy = settings.load_policy()
    if settings.target == "snowflake":  # credentials before the lock: the likelier mistake
        from tasks.warehouse.snowflake import check_credentials

        check_credentials(settings)
    with publish_lock(settings, run_id):
        wh = open_when_free(settings)
        drop_stale_staging(wh)  # a killed run's leftovers; safe: we hold the publish lock
        log = RunLog(flow_name, run_id, params.record() | {"policy": policy.record()})
        try:
            yield StepRun(units, settings, wh, log, policy)
        except BaseException as exc:
            record_run(wh, log, "FAILED", f"{type(exc).__name__}: {exc}")
            raise
        else:
            record_run(wh, log, "COMPLETED")
        finally:
            wh.close()


# Under the publish lock no other run writes; the DuckDB file may still be open for a moment
# in another process (a starting run's doctor check, a dashboard read).
BUSY_WAIT_S = 60.0


def open_when_free(settings: LifelineSettings, wait_s: float = BUSY_WAIT_S) -> Warehouse:
    """Open the warehouse, waiting up to WAIT_S while another process briefly holds the file."""
    from tasks.warehouse.duckdb import WarehouseBusyError

    deadline = time.monotonic() + wait_s
    while True:
        try:
            return open_warehouse(settings)
        except WarehouseBusyError as exc:
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(f"{exc}; nothing was written by this run") from None
            time.sleep(0.5)


class DriftDetectedError(RuntimeError):
    """Raised (when asked to) so that a Prefect automation can notify on drift."""


def publish_gated(
    wh: Warehouse, staging: Iterable[str], validate: Callable[[], Any], publish: Callable[[], T]
) -> T:
    """Validate staging tables, then publish them; a failed gate drops them and re-raises."""
    try:
        validate()
    except BaseException:
        for table in staging:
            wh.drop_table(table)
        raise
    return publish()


def resolve_as_of(run: StepRun, as_of: dt.date | None) -> dt.date:
    """The given cut-off, or the day after the latest transaction; recorded with the run."""
    if as_of is None:
        latest = run.wh.scalar("SELECT MAX(txn_ts) FROM raw.transactions")
        if latest is None:
            raise ValueError("RAW.TRANSACTIONS is empty: ingest data first")
        as_of = latest.date() + dt.timedelta(days=1)
    run.log.parameters["as_of"] = as_of.isoformat()
    return as_of


def gate(run: StepRun, suite: str, table: str, parameters: dict | None = None) -> None:
    """Validate TABLE with SUITE; note the verdict (and any warning-level failures) in the log."""
    units, wh, log = run.units, run.wh, run.log
    try:
        result = units.validate_dataset(wh, suite, table, log.run_id, parameters)
    except quality.QualityGateError:
        log.gates[suite] = "failed"
        raise
    if result.failed:
        log.gates[suite] = "passed with warnings"
        log.warn(f"gate {suite}: warning-level checks failed: {quality.failure_summary(result)}")
    else:
        log.gates[suite] = "passed"


def max_ingest_ts(future_days: int = 1) -> str:
    """Latest plausible transaction time: now plus the policy's clock-skew allowance."""
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(days=future_days)
    return latest.strftime("%Y-%m-%d %H:%M:%S")


def synthetic_landing(settings: LifelineSettings, p: IngestParams) -> Path:
    """Where the synthetic portfolio of these parameters is written (one folder per portfolio)."""
    return settings.home_dir / "landing" / f"synthetic-c{p.customers}-t{p.transactions}-s{p.seed}"


def ingest_step(run: StepRun, p: IngestParams) -> dict[str, Any]:
    """Ingest the source (or a synthetic portfolio) and gate RAW.TRANSACTIONS."""
    units, settings, wh, log = run.units, run.settings, run.wh, run.log
    mapping = ingest.parse_mapping(p.columns or {})
    source = p.source
    if source == "synthetic":
        with log.step("generate"):
            folder = synthetic_landing(settings, p)
            source = str(units.ensure_portfolio(folder, p.customers, p.transactions, p.seed))
    max_ts = max_ingest_ts(run.policy.ingest.max_future_days)
    with log.step("ingest"):
        try:
            report = units.ingest_source(
                wh,
                source,
                mapping,
                log.run_id,
                p.date_format,
                max_ts,
                run.policy.ingest,
                p.order_lines,
            )
        except ingest.LoadRejectedError:
            log.gates["raw_transactions"] = "failed"
            raise
    # Each load was gated in staging before it was published (tasks.ingest.loading).
    log.gates["raw_transactions"] = (
        f"passed ({report.files_loaded} loads)" if report.files_loaded else "no new loads"
    )
    # The raw gate runs on each load inside ingest; its share is reported beside it.
    log.seconds["quality_raw"] = round(report.check_seconds, 3)
    for message in report.warnings:
        log.warn(message)
    log.counts |= {
        "files_loaded": report.files_loaded,
        "files_skipped": report.files_skipped,
        "rows_ingested": report.rows_loaded,
        "customers_loaded": report.customers_loaded,
        "raw_transactions": wh.row_count("RAW.TRANSACTIONS"),
    }
    return log.counts | {"warnings": list(report.warnings)}


def features_step(run: StepRun, p: FeatureParams, as_of: dt.date) -> dict[str, Any]:
    """Stage features and labels for every cut-off, gate both, publish both."""
    units, wh, log, policy = run.units, run.wh, run.log, run.policy
    with log.step("features"):
        staging = units.stage_features(
            wh,
            log.run_id,
            as_of,
            p.horizon_days,
            p.train_snapshots,
            p.spend_drop_ratio,
            policy.features.lookback_days,
            policy.features.btyd,
        )
    for problem in staging.problems:
        log.warn(f"BTYD fit: {problem}")

    def validate() -> None:
        with log.step("quality_features"):
            lookback = {"max_recency_days": policy.features.lookback_days or None}
            gate(run, "customer_features", staging.features, lookback)
            band = {
                "churn_rate_min": policy.labels.churn_rate_min,
                "churn_rate_max": policy.labels.churn_rate_max,
            }
            try:
                gate(run, "training_labels", staging.labels, band)
            except quality.QualityGateError as exc:
                # The gate records and alerts as ever; the line also says what it means.
                reason = features.one_class_reason(wh, staging.labels, p.horizon_days)
                if reason is None:
                    raise
                raise quality.QualityGateError(f"{exc} ({reason})", exc.checks) from None
            shift = features.churn_rate_shift(wh, staging.labels, p.horizon_days)
            if shift and abs(shift[1] - shift[0]) > policy.labels.churn_rate_shift:
                log.warn(
                    f"churn rate {shift[1]:.1%} at the latest labelled cut-off, against "
                    f"{shift[0]:.1%} in the published labels (policy allows "
                    f"{policy.labels.churn_rate_shift:.0%} movement)"
                )

    def publish() -> dict[str, Any]:
        with log.step("publish_features"):
            return units.publish_features(wh, staging)

    counts = publish_gated(wh, staging.tables, validate, publish)
    log.counts |= {
        "feature_rows": counts["features"],
        "label_rows": counts["labels"],
        "feature_version": counts["feature_version"],
        "features_used": len(staging.feature_names),
    }
    return log.counts


def train_step(run: StepRun, p: TrainParams, as_of: dt.date) -> dict[str, Any]:
    """Train on cut-offs before AS_OF, evaluate on the holdout, register, promote."""
    units, wh, log = run.units, run.wh, run.log
    with log.step("train"):
        result, holdout = units.train_models(
            wh, log.run_id, as_of, p.horizon_days, p.train_snapshots, p.trainer
        )
    if small := training.holdout_warning(holdout):
        log.warn(small)
    # What MLflow records with the models; drift reads as_of/horizon/snapshots back from it.
    logged = {
        "as_of": as_of,
        "horizon_days": p.horizon_days,
        "trainer": p.trainer,
        "train_snapshots": p.train_snapshots,
        "flow_run_id": log.run_id,
    }
    with log.step("register"):
        decisions = units.register_models(run.settings, result, holdout, logged, p.promote_margin)
    log.counts |= {
        "training_rows": result.rows.get("train"),
        "holdout_rows": result.rows.get("holdout"),
    }
    return {
        "metrics": result.metrics,
        "served": result.served,
        "serving": [registry.serving_reason(result, t) for t in ("churn", "clv")],
        "promotion": decisions,
        "top_features": list(result.importances)[:5],
    }


def score_step(run: StepRun, as_of: dt.date) -> dict[str, Any]:
    """Stage scores for AS_OF, gate them, MERGE them into ML.CUSTOMER_SCORES."""
    units, wh, log = run.units, run.wh, run.log
    with log.step("score"):
        staging, rows = units.stage_scores(wh, run.settings, as_of, log.run_id, run.policy.scoring)

    def validate() -> None:
        with log.step("quality_scores"):
            eligible = {"eligible_customers": scoring.eligible_customers(wh, as_of)}
            gate(run, "customer_scores", staging, eligible)

    def publish() -> dict[str, int]:
        with log.step("publish"):
            return units.publish_scores(wh, staging)

    bands = publish_gated(wh, [staging], validate, publish)
    log.counts |= {
        "rows_scored": rows,
        "risk_bands": bands,
        "score_rows_total": wh.row_count(scoring.SCORES_TABLE),
    }
    return log.counts


def realised_step(run: StepRun) -> list[dict[str, Any]]:
    """Judge past scores whose horizon has passed; record, publish, alert on shortfalls."""
    units, wh, log = run.units, run.wh, run.log
    with log.step("realised"):
        rows = units.check_realised(wh, run.settings, run.policy.monitoring, log.run_id)
    publish_markdown("realised-performance", realised.realised_markdown(wh))
    found = [
        r | {"AS_OF_DATE": str(r["AS_OF_DATE"])[:10], "EVALUATED_AT": str(r["EVALUATED_AT"])}
        for r in (rows.to_dict("records") if len(rows) else [])
    ]
    log.counts |= {"realised_dates": [r["AS_OF_DATE"] for r in found]}
    for row in (r for r in found if r["DEGRADED"]):
        log.warn(f"scores of {row['AS_OF_DATE']} fell short of their holdout: {row['REASON']}")
        emit_alert_event(
            PERFORMANCE_EVENT,
            warehouse_resource(run.settings),
            {
                "as_of": row["AS_OF_DATE"],
                "reason": row["REASON"],
                "model_version": row["CHURN_MODEL_VERSION"],
                "run_id": log.run_id,
            },
        )
    return found


def drift_step(run: StepRun, p: DriftParams, as_of: dt.date) -> dict[str, Any]:
    """Compute and record PSI; warn (or fail, when asked) when features drifted."""
    units, wh, log = run.units, run.wh, run.log
    with log.step("drift"):
        report = units.monitor_drift(wh, run.settings, as_of, p.drift_threshold, log.run_id)
    log.counts |= {"drifted_features": report.drifted}
    if report.drifted:
        message = f"drift at {as_of}: PSI > {p.drift_threshold} for {', '.join(report.drifted)}"
        log.warn(message)
        emit_alert_event(
            DRIFT_EVENT,
            warehouse_resource(run.settings),
            {
                "as_of": as_of.isoformat(),
                "threshold": p.drift_threshold,
                "drifted": report.drifted,
                "psi_drifted": {f: round(report.psi[f], 4) for f in report.drifted},
                "run_id": log.run_id,
            },
        )
        if p.fail_on_drift:
            raise DriftDetectedError(message)
    return {"drifted": report.drifted, "psi": report.psi, "threshold": p.drift_threshold}
