"""Flow `train`: fit churn and CLV models with one trainer, register and promote."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import flow_session, resolve_as_of
from tasks.runs import RunLog
from tasks.settings import LifelineSettings
from tasks.stages import register_models, train_models
from tasks.trainers import TrainerName, get_trainer
from tasks.warehouse import Warehouse


def run_train(
    settings: LifelineSettings,
    wh: Warehouse,
    log: RunLog,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    trainer: str,
    promote_margin: float,
) -> dict[str, Any]:
    """Train on snapshots before AS_OF, evaluate on the holdout, register, promote."""
    with log.stage("train"):
        result, holdout = train_models(
            wh, log.run_id, as_of, horizon_days, train_snapshots, trainer
        )
    params = {
        "as_of": as_of,
        "horizon_days": horizon_days,
        "trainer": trainer,
        "train_snapshots": train_snapshots,
        "flow_run_id": log.run_id,
    }
    with log.stage("register"):
        decisions = register_models(settings, result, holdout, params, promote_margin)
    log.counts |= {
        "training_rows": result.rows.get("train"),
        "holdout_rows": result.rows.get("holdout"),
    }
    return {
        "metrics": result.metrics,
        "promotion": decisions,
        "top_features": list(result.importances)[:5],
    }


@flow(name="train", log_prints=True)
def train_flow(
    as_of: dt.date | None = None,
    horizon_days: Annotated[int, Field(ge=7, le=730)] = 90,
    train_snapshots: Annotated[int, Field(ge=1, le=36)] = 6,
    trainer: TrainerName = "local",
    promote_margin: Annotated[float, Field(ge=0, le=1)] = 0.0,
) -> dict[str, Any]:
    """Train with trainer=local|snowpark|sagemaker on published features and labels."""
    get_trainer(trainer).preflight()  # fail before any data moves
    params = dict(
        as_of=as_of,
        horizon_days=horizon_days,
        train_snapshots=train_snapshots,
        trainer=trainer,
        promote_margin=promote_margin,
    )
    with flow_session("train", params) as (settings, wh, log):
        cut_off = resolve_as_of(wh, as_of)
        return run_train(
            settings, wh, log, cut_off, horizon_days, train_snapshots, trainer, promote_margin
        )
