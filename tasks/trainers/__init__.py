"""Trainer strategies behind one port; `get_trainer` picks one by name."""

from __future__ import annotations

from typing import Literal

from tasks.trainers.base import Trainer, TrainerUnavailableError
from tasks.trainers.local import LocalTrainer

TrainerName = Literal["local", "snowpark", "sagemaker"]
TRAINERS = ("local", "snowpark", "sagemaker")

__all__ = ["TRAINERS", "Trainer", "TrainerName", "TrainerUnavailableError", "get_trainer"]


def get_trainer(name: str) -> Trainer:
    """The trainer registered under NAME; unknown or unavailable ones fail before any work."""
    if name == "local":
        return LocalTrainer()
    if name in ("snowpark", "sagemaker"):
        raise TrainerUnavailableError(
            f"trainer {name!r} is not available in this build yet; use trainer=local"
        )
    raise TrainerUnavailableError(f"unknown trainer {name!r}; choose one of {', '.join(TRAINERS)}")
