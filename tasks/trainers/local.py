"""In-process trainer: scikit-learn on the training set fetched through the warehouse port."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from tasks.modeling import ModelConfig, TrainResult, fit_models

if TYPE_CHECKING:
    from tasks.features import TrainingSet
    from tasks.warehouse import Warehouse


class LocalTrainer:
    """Trains in the flow's own process."""

    name = "local"

    def preflight(self) -> None:
        """Always available."""

    def fit(self, wh: Warehouse, training_set: TrainingSet, config: ModelConfig) -> TrainResult:
        """Fetch the training set and fit it here."""
        return self.train(training_set.fetch(wh), config, training_set.horizon_days)

    def train(
        self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int
    ) -> TrainResult:
        """Fit and evaluate a frame with the shared model module."""
        return fit_models(training_set, config, horizon_days)
