"""Trainer strategies behind one port; `get_trainer` picks one by name from TRAINERS.

Kept light: the Snowpark procedure imports this package inside Snowflake.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tasks.trainers.base import Trainer, TrainerUnavailableError
from tasks.trainers.local import LocalTrainer

if TYPE_CHECKING:
    from tasks.settings import LifelineSettings


def sagemaker_trainer(settings: LifelineSettings | None) -> Trainer:
    """The SageMaker training-job trainer (imports boto3 only when chosen)."""
    from tasks.settings import load_settings
    from tasks.trainers.sagemaker import SageMakerTrainer

    return SageMakerTrainer(settings or load_settings())


def snowpark_trainer(settings: LifelineSettings | None) -> Trainer:
    """The Snowpark stored-procedure trainer (imports Snowpark only when chosen)."""
    from tasks.settings import load_settings
    from tasks.trainers.snowpark import SnowparkTrainer

    return SnowparkTrainer(settings or load_settings())


# name -> factory; only the trainers that need settings read them (local needs none).
TRAINERS: dict[str, Callable[[LifelineSettings | None], Trainer]] = {
    "local": lambda settings: LocalTrainer(),
    "snowpark": snowpark_trainer,
    "sagemaker": sagemaker_trainer,
}

__all__ = ["TRAINERS", "Trainer", "TrainerUnavailableError", "get_trainer"]


def get_trainer(name: str, settings: LifelineSettings | None = None) -> Trainer:
    """The trainer registered under NAME; unknown or unavailable ones fail before any work."""
    factory = TRAINERS.get(name)
    if factory is None:
        raise TrainerUnavailableError(
            f"unknown trainer {name!r}; choose one of {', '.join(TRAINERS)}"
        )
    return factory(settings)
