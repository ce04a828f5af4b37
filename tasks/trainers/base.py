"""The Trainer port: same training-set contract in, same TrainResult out."""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from tasks.modeling import ModelConfig, TrainResult


class TrainerUnavailableError(RuntimeError):
    """A trainer that cannot run here (unknown, or missing its account/credentials)."""


class Trainer(Protocol):
    """Fits the shared models wherever the trainer runs."""

    name: str

    def preflight(self) -> None:
        """Raise TrainerUnavailableError before any data moves if this trainer cannot run."""

    def train(
        self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int
    ) -> TrainResult:
        """Fit and evaluate on the time-based holdout."""
