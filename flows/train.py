"""Flow `train`: fit churn and CLV models with one trainer, register and promote."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks.params import (
    DEFAULTS,
    AsOf,
    HorizonDays,
    PromoteMargin,
    Trainer,
    TrainParams,
    TrainSnapshots,
    describe_params,
)
from tasks.steps import train_step
from tasks.trainers import get_trainer


@flow(name="train", log_prints=True)
@describe_params(TrainParams)
def train_flow(
    as_of: AsOf = DEFAULTS.as_of,
    horizon_days: HorizonDays = DEFAULTS.horizon_days,
    train_snapshots: TrainSnapshots = DEFAULTS.train_snapshots,
    trainer: Trainer = DEFAULTS.trainer,
    promote_margin: PromoteMargin = DEFAULTS.promote_margin,
) -> dict[str, Any]:
    """Train with trainer=local|snowpark|sagemaker on published features and labels."""
    params = TrainParams(**locals())
    get_trainer(trainer).preflight()  # fail before any data moves
    with flow_session("train", params) as run:
        return train_step(run, params, resolve_as_of(run, as_of))
