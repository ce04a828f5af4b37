"""Flow `customer-ml-pipeline`: ingest -> features -> gates -> train -> register -> score."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks.params import (
    DEFAULTS,
    AsOf,
    Columns,
    Customers,
    DateFormat,
    DriftThreshold,
    FailOnDrift,
    HorizonDays,
    OrderLines,
    PipelineParams,
    PromoteMargin,
    Seed,
    Source,
    SpendDropRatio,
    Trainer,
    TrainSnapshots,
    Transactions,
    describe_params,
)
from tasks.runs import publish_run_summary
from tasks.steps import drift_step, features_step, ingest_step, score_step, train_step
from tasks.trainers import get_trainer


@flow(name="customer-ml-pipeline", log_prints=True)
@describe_params(PipelineParams)
def customer_ml_pipeline(
    source: Source = DEFAULTS.source,
    as_of: AsOf = DEFAULTS.as_of,
    horizon_days: HorizonDays = DEFAULTS.horizon_days,
    trainer: Trainer = DEFAULTS.trainer,
    promote_margin: PromoteMargin = DEFAULTS.promote_margin,
    columns: Columns = DEFAULTS.columns,
    date_format: DateFormat = DEFAULTS.date_format,
    order_lines: OrderLines = DEFAULTS.order_lines,
    customers: Customers = DEFAULTS.customers,
    transactions: Transactions = DEFAULTS.transactions,
    seed: Seed = DEFAULTS.seed,
    train_snapshots: TrainSnapshots = DEFAULTS.train_snapshots,
    spend_drop_ratio: SpendDropRatio = DEFAULTS.spend_drop_ratio,
    drift_threshold: DriftThreshold = DEFAULTS.drift_threshold,
    fail_on_drift: FailOnDrift = DEFAULTS.fail_on_drift,
) -> dict[str, Any]:
    """Run every step on one warehouse connection; any failure stops before later writes."""
    params = PipelineParams(**locals())
    get_trainer(params.trainer).preflight()  # fail before any data moves
    with flow_session("customer-ml-pipeline", params) as run:
        ingest_step(run, params)
        as_of = resolve_as_of(run, as_of)
        features_step(run, params, as_of)
        training = train_step(run, params, as_of)
        score_step(run, as_of)
        monitoring = drift_step(run, params, as_of)
        log = run.log
        publish_run_summary(log)
        return {
            "run_id": log.run_id,
            "as_of": as_of,
            "counts": dict(log.counts),
            "seconds": dict(log.seconds),
            "gates": dict(log.gates),
            "warnings": list(log.warnings),
            "drifted": monitoring["drifted"],
            "drift_threshold": monitoring["threshold"],
            "warehouse": run.wh.describe(),
            **training,
        }
