"""Training as one unit: plan the cut-offs, fit with the chosen trainer, return the holdout."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tasks.features import TrainingSet, plan_snapshots, record_snapshots
from tasks.modeling import ModelConfig, TrainResult
from tasks.trainers import get_trainer
from tasks.warehouse import Warehouse


def train_models(
    wh: Warehouse,
    run_id: str,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    trainer: str,
) -> tuple[TrainResult, pd.DataFrame]:
    """Fit on the run's training cut-offs before AS_OF; return the result and the holdout rows."""
    record_snapshots(wh, run_id, plan_snapshots(as_of, horizon_days, train_snapshots))
    training_set = TrainingSet(run_id, horizon_days)
    config = ModelConfig(features=training_set.feature_names(wh))
    result = get_trainer(trainer).fit(wh, training_set, config)
    return result, training_set.fetch(wh, holdout_only=True)
