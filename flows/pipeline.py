"""Flow `customer-ml-pipeline`: ingest -> features -> gates -> train -> register -> score."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import flow_session, resolve_as_of
from flows.features import run_features
from flows.ingest import run_ingest
from flows.monitor import run_drift
from flows.score import run_score
from flows.train import run_train
from tasks.stages import publish_run_summary
from tasks.trainers import TrainerName, get_trainer


@flow(name="customer-ml-pipeline", log_prints=True)
def customer_ml_pipeline(
    source: str = "synthetic",
    as_of: dt.date | None = None,
    horizon_days: Annotated[int, Field(ge=7, le=730)] = 90,
    trainer: TrainerName = "local",
    promote_margin: Annotated[float, Field(ge=0, le=1)] = 0.0,
    columns: dict[str, str] | None = None,
    date_format: str | None = None,
    customers: Annotated[int, Field(ge=1)] = 5000,
    transactions: Annotated[int, Field(ge=1)] = 500_000,
    seed: int = 7,
    train_snapshots: Annotated[int, Field(ge=1, le=36)] = 6,
    spend_drop_ratio: Annotated[float, Field(ge=0, le=1)] = 0.3,
    drift_threshold: Annotated[float, Field(gt=0)] = 0.2,
) -> dict[str, Any]:
    """Run every stage on one warehouse connection; any failure stops before later writes."""
    get_trainer(trainer).preflight()  # fail before any data moves
    params = dict(
        source=source,
        as_of=as_of,
        horizon_days=horizon_days,
        trainer=trainer,
        promote_margin=promote_margin,
        columns=columns,
        date_format=date_format,
        customers=customers,
        transactions=transactions,
        seed=seed,
        train_snapshots=train_snapshots,
        spend_drop_ratio=spend_drop_ratio,
    )
    with flow_session("customer-ml-pipeline", params) as (settings, wh, log):
        run_ingest(
            settings, wh, log, source, columns or {}, date_format, customers, transactions, seed
        )
        cut_off = resolve_as_of(wh, as_of)
        log.parameters["as_of"] = cut_off
        run_features(wh, log, cut_off, horizon_days, train_snapshots, spend_drop_ratio)
        training = run_train(
            settings, wh, log, cut_off, horizon_days, train_snapshots, trainer, promote_margin
        )
        run_score(settings, wh, log, cut_off)
        monitoring = run_drift(settings, wh, log, cut_off, drift_threshold, fail_on_drift=False)
        publish_run_summary(log)
        return {
            "drifted": monitoring["drifted"],
            "run_id": log.run_id,
            "as_of": cut_off,
            "counts": dict(log.counts),
            "seconds": dict(log.seconds),
            "warehouse": wh.describe(),
            **training,
        }
