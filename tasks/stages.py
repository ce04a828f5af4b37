"""Prefect tasks: thin wrappers that give each unit of work a name, a state and a log.

Tasks receive the warehouse adapter the flow built once; caching is off (NO_CACHE) because
idempotency comes from warehouse keys, never from Prefect's cache of a live connection.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.tasks import exponential_backoff

from tasks import drift, features, ingest, quality, registry, scoring
from tasks.identifiers import quote_identifier
from tasks.modeling import ModelConfig, TrainResult
from tasks.synthetic import generate_portfolio
from tasks.trainers import get_trainer
from tasks.warehouse import StatementTimeoutError, Warehouse

TRANSIENT = (ConnectionError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Network trouble worth another attempt; bad data, bad code and our deadlines are not."""
    if isinstance(exc, StatementTimeoutError):
        return False
    if isinstance(exc, TRANSIENT):
        return True
    name = type(exc).__name__
    # Connector and botocore classes, by name so this module imports neither.
    return name in {
        "OperationalError",
        "InterfaceError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    }


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        return is_transient(exc)
    return False


# Only tasks that touch the network retry; their writes are idempotent by warehouse keys
# (manifest, partition replace, MERGE), so a retry after an ambiguous commit is a no-op.
NETWORK_RETRIES: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}


def publish_artifact(key: str, markdown: str) -> None:
    """Attach a markdown artifact to the current flow run (no-op outside one)."""
    if FlowRunContext.get() is not None:
        create_markdown_artifact(markdown=markdown, key=key)


def publish_table(key: str, rows: list[dict], description: str | None = None) -> None:
    """Attach a table artifact to the current flow run (no-op outside one)."""
    if FlowRunContext.get() is not None:
        create_table_artifact(key=key, table=rows, description=description)


@task(cache_policy=NO_CACHE)
def generate_synthetic(out_dir: Path, customers: int, transactions: int, seed: int) -> Path:
    """Write a synthetic portfolio (skipped when the same one is already on disk)."""
    marker = out_dir / "_COMPLETE"
    if not marker.exists():
        generate_portfolio(out_dir, customers, transactions, seed)
        marker.write_text("ok\n")
    return out_dir


@task(**NETWORK_RETRIES)
def ingest_source(
    wh: Warehouse,
    source: str,
    mapping: dict[str, str],
    run_id: str,
    date_format: str | None,
    max_ts: str,
) -> ingest.IngestReport:
    """Load every new file of SOURCE; each file is all-or-nothing, earlier files stay loaded.

    Raises:
        IngestError: naming the file, row and column of the first unusable value.
    """
    return ingest.ingest_source(wh, source, mapping, run_id, date_format, max_ts)


@task(cache_policy=NO_CACHE)
def validate_dataset(
    wh: Warehouse, suite: str, table: str, run_id: str, parameters: dict | None = None
) -> quality.SuiteResult:
    """Run a suite, record it in OPS.QUALITY_RESULTS and as an artifact; raise on failure.

    Raises:
        QualityGateError: naming each failed critical expectation.
    """
    result = quality.evaluate_suite(wh, suite, table, parameters)
    quality.record_result(wh, result, run_id)
    publish_artifact(f"quality-{suite.replace('_', '-')}", quality.result_markdown(result))
    if not result.success:
        raise quality.QualityGateError(quality.failure_message(result))
    return result


@task(cache_policy=NO_CACHE)
def stage_features(
    wh: Warehouse,
    run_id: str,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    spend_drop_ratio: float,
) -> tuple[str, str]:
    """Plan snapshots, build customer-day aggregates, stage features and labels."""
    features.drop_stale_staging(wh)
    features.record_snapshots(
        wh, run_id, features.plan_snapshots(as_of, horizon_days, train_snapshots)
    )
    f_stage = features.stage_features(wh, run_id, as_of, horizon_days)
    l_stage = features.stage_labels(wh, run_id, as_of, horizon_days, spend_drop_ratio)
    return f_stage, l_stage


@task(**NETWORK_RETRIES)
def publish_features(wh: Warehouse, f_stage: str, l_stage: str) -> dict[str, Any]:
    """Publish gated features and labels, register definitions, drop staging.

    Staging stays when publishing fails, so a retry can publish it; the next run's start
    drops whatever a failed run left.
    """
    counts = features.publish_features(wh, f_stage, l_stage)
    counts["feature_version"] = features.register_features(wh)
    wh.drop_table(f_stage)
    wh.drop_table(l_stage)
    return counts


@task(**NETWORK_RETRIES)
def train_models(
    wh: Warehouse,
    run_id: str,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    trainer: str,
) -> tuple[TrainResult, Any]:
    """Fetch the training set for AS_OF and fit with the chosen trainer."""
    features.record_snapshots(
        wh, run_id, features.plan_snapshots(as_of, horizon_days, train_snapshots)
    )
    impl = get_trainer(trainer)
    if not hasattr(impl, "train_table"):
        training_set = features.fetch_training_set(wh, run_id, horizon_days)
        result = impl.train(training_set, ModelConfig(), horizon_days)
        return result, training_set[training_set["ROLE"] == "holdout"]
    # In-warehouse trainers (Snowpark) read a staging table; only the holdout comes back here.
    table = features.stage_training_set(wh, run_id, horizon_days)
    try:
        impl.attach(wh.conn)
        result = impl.train_table(table, ModelConfig(), horizon_days)
    finally:
        wh.drop_table(table)
    return result, features.fetch_training_set(wh, run_id, horizon_days, holdout_only=True)


@task(cache_policy=NO_CACHE)
def register_models(
    settings: Any, result: TrainResult, holdout: Any, params: dict, margin: float
) -> list[dict]:
    """Log to MLflow, register both models and apply the promotion policy."""
    client = registry.configure_mlflow(settings)
    versions = registry.log_training_run(result, params, holdout)
    decisions = [
        registry.promote(client, name, version, model, holdout, result.features, margin)
        for name, version, model in (
            (registry.CHURN_MODEL, versions[registry.CHURN_MODEL], result.churn_model),
            (registry.CLV_MODEL, versions[registry.CLV_MODEL], result.clv_model),
        )
    ]
    publish_artifact("model-card", model_card(params, result, decisions))
    return decisions


def model_card(params: dict, result: TrainResult, decisions: list[dict]) -> str:
    """Markdown model card: data window, metrics vs baseline vs champion, top features."""
    m = result.metrics
    rows = [
        ("churn ROC AUC", "churn_roc_auc"),
        ("churn PR AUC", "churn_pr_auc"),
        ("churn Brier", "churn_brier"),
        ("churn ECE", "churn_ece"),
        ("churn top-decile lift", "churn_top_decile_lift"),
        ("CLV MAE", "clv_mae"),
        ("CLV RMSE", "clv_rmse"),
        ("CLV Spearman", "clv_spearman"),
        ("CLV normalised Gini", "clv_normalized_gini"),
    ]
    lines = [
        f"### Lifeline models as of {params.get('as_of')} (trainer {params.get('trainer')})",
        f"Rows: {result.rows}",
        "",
        "| metric | model | baseline |",
        "|---|---|---|",
    ]
    for label, key in rows:
        base = m.get(key.replace("churn_", "churn_baseline_").replace("clv_", "clv_baseline_"))
        lines.append(f"| {label} | {m[key]:.4f} | {base:.4f} |")
    lines += [
        "",
        "| model | version | holdout score | champion | champion score | promoted |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d['model']} | {d['version']} | {d['score']:.4f} | {d['champion_version']} | "
        f"{d['champion_score']} | {d['promoted']} ({d['reason']}) |"
        for d in decisions
    ]
    lines += ["", "Top features (permutation importance, ROC AUC drop):"]
    lines += [f"- {k}: {v:.4f}" for k, v in list(result.importances.items())[:10]]
    return "\n".join(lines)


@task(**NETWORK_RETRIES)
def stage_scores(wh: Warehouse, settings: Any, as_of: dt.date, run_id: str) -> tuple[str, int]:
    """Score active customers at AS_OF with the champions into a staging table."""
    from tasks.features import FEATURE_NAMES

    registry.configure_mlflow(settings)
    churn, churn_v = registry.load_champion(registry.CHURN_MODEL)
    clv, clv_v = registry.load_champion(registry.CLV_MODEL)
    return scoring.stage_scores(wh, as_of, (churn, clv), (churn_v, clv_v), run_id, FEATURE_NAMES)


@task(**NETWORK_RETRIES)
def publish_scores(wh: Warehouse, staging: str) -> dict[str, int]:
    """MERGE staged scores and report risk-band counts as an artifact (staging kept on error)."""
    scoring.publish_scores(wh, staging)
    bands = wh.fetch_frame(
        f"SELECT risk_band, COUNT(*) AS n FROM {quote_identifier(staging)} "
        "GROUP BY risk_band ORDER BY 1"
    )
    wh.drop_table(staging)
    wh.run_sql_file("scoring/10_create_customer_360")
    counts = dict(zip(bands["RISK_BAND"], bands["N"].astype(int), strict=True))
    publish_table("risk-bands", [{"band": k, "customers": v} for k, v in counts.items()])
    return counts


@task(cache_policy=NO_CACHE)
def monitor_drift(
    wh: Warehouse, settings: Any, as_of: dt.date, threshold: float, run_id: str
) -> drift.DriftReport:
    """PSI of the scoring population at AS_OF against the champion's training snapshots."""
    registry.configure_mlflow(settings)
    params = registry.champion_training_params(registry.CHURN_MODEL)
    plan = features.plan_snapshots(
        dt.date.fromisoformat(params["as_of"]),
        int(params["horizon_days"]),
        int(params["train_snapshots"]),
    )
    reference_dates = [s.as_of_date for s in plan if s.role == "train"]
    churn, _ = registry.load_champion(registry.CHURN_MODEL)
    report = drift.compute_drift(
        drift.fetch_features(wh, reference_dates),
        drift.fetch_features(wh, [as_of]),
        features.FEATURE_NAMES,
        churn,
        as_of,
        max(reference_dates),
        threshold,
    )
    drift.record_drift(wh, report, run_id)
    publish_artifact("drift", drift.drift_markdown(report))
    return report


def publish_run_summary(log: Any) -> None:
    """A table artifact: seconds and rows per stage of this run."""
    rows = [{"stage": k, "seconds": v} for k, v in log.seconds.items()]
    rows += [
        {"stage": f"count: {k}", "seconds": None, "value": str(v)} for k, v in log.counts.items()
    ]
    publish_table("run-summary", rows, f"{log.flow_name} run {log.run_id}")
