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
    everyone = TrainingSet(run_id, horizon_days)
    config = ModelConfig(features=everyone.feature_names(wh))
    available = everyone.train_rows(wh)
    share = min(1.0, config.max_train_rows / available) if available else 1.0
    training_set = TrainingSet(run_id, horizon_days, share)
    result = get_trainer(trainer).fit(wh, training_set, config)
    if share < 1:
        result.rows |= {"train_available": available, "train_cap": config.max_train_rows}
    return result, training_set.fetch(wh, holdout_only=True)


# Below these, holdout metrics move by chance more than between models.
MIN_HOLDOUT_CUSTOMERS = 200
MIN_HOLDOUT_CLASS = 20


def holdout_warning(holdout: pd.DataFrame) -> str | None:
    """A warning when the holdout is too small to rank the models reliably, else None."""
    if len(holdout) and not (holdout["FUTURE_VALUE"] > 0).any():
        return (
            "nobody spent anything in the holdout's label window (are the amounts all zero?): "
            "the CLV models cannot be told apart and predict little or nothing"
        )
    customers = len(holdout)
    churned = int(holdout["CHURNED"].sum()) if customers else 0
    rarer = min(churned, customers - churned)
    if customers >= MIN_HOLDOUT_CUSTOMERS and rarer >= MIN_HOLDOUT_CLASS:
        return None
    return (
        f"the holdout has {customers} customers ({churned} churned): too few to rank the "
        "models reliably, so the served pick and its metrics are noisy"
    )
