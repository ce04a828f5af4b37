"""In-process trainer: scikit-learn on the training set fetched through the warehouse port."""

from __future__ import annotations

import pandas as pd

from tasks.modeling import ModelConfig, TrainResult, fit_models


class LocalTrainer:
    """Trains in the flow's own process."""

    name = "local"

    def preflight(self) -> None:
        """Always available."""

    def train(
        self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int
    ) -> TrainResult:
        """Fit and evaluate with the shared model module."""
        return fit_models(training_set, config, horizon_days)
