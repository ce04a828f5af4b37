"""Trainer strategies behind one port; `get_trainer` picks one by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from tasks.trainers.base import Trainer, TrainerUnavailableError
from tasks.trainers.local import LocalTrainer

if TYPE_CHECKING:
    from tasks.settings import LifelineSettings

TrainerName = Literal["local", "snowpark", "sagemaker"]
TRAINERS = ("local", "snowpark", "sagemaker")

__all__ = ["TRAINERS", "Trainer", "TrainerName", "TrainerUnavailableError", "get_trainer"]


def get_trainer(name: str, settings: LifelineSettings | None = None) -> Trainer:
    """The trainer registered under NAME; unknown or unavailable ones fail before any work."""
    if name == "local":
        return LocalTrainer()
    if name == "sagemaker":
        from tasks.settings import load_settings
        from tasks.trainers.sagemaker import SageMakerTrainer

        return SageMakerTrainer(settings or load_settings())
    if name == "snowpark":
        from tasks.settings import load_settings
        from tasks.trainers.snowpark import SnowparkTrainer

        return SnowparkTrainer(settings or load_settings())
    raise TrainerUnavailableError(f"unknown trainer {name!r}; choose one of {', '.join(TRAINERS)}")
