"""The Trainer port: a training set in the warehouse in, the same TrainResult out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from tasks.errors import ConfigurationError
from tasks.modeling import ModelConfig, TrainResult

if TYPE_CHECKING:
    from tasks.features import TrainingSet
    from tasks.warehouse import Warehouse


class TrainerUnavailableError(ConfigurationError):
    """A trainer that cannot run here (unknown, or missing its account/credentials)."""


class Trainer(Protocol):
    """Fits the shared models wherever the trainer runs."""

    name: str

    def preflight(self) -> None:
        """Raise TrainerUnavailableError before any data moves if this trainer cannot run."""

    def fit(self, wh: Warehouse, training_set: TrainingSet, config: ModelConfig) -> TrainResult:
        """Fit on TRAINING_SET (read from WH) and evaluate on its time-based holdout."""
