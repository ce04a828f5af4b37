"""Snowpark trainer: the shared model code in a stored procedure, next to the data."""

from __future__ import annotations

import json
import tempfile
import uuid
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from snowflake.snowpark import Session  # get_type_hints must resolve the handler's hint

from tasks.identifiers import validate_identifier
from tasks.modeling import ModelConfig, TrainResult
from tasks.trainers.base import TrainerUnavailableError

if TYPE_CHECKING:
    from tasks.features import TrainingSet
    from tasks.warehouse import Warehouse


class SnowparkTrainingError(RuntimeError):
    """The procedure ran but no usable model came back."""


ROOT = Path(__file__).resolve().parents[2]
PROCEDURE = "ML.LIFELINE_TRAIN"
MODEL_FILE = "lifeline_models.joblib"
# Pinned to the versions this flow runs with, so the pickled models load back here unchanged.
RUNTIME_PACKAGES = (
    "snowflake-snowpark-python",
    "scikit-learn",
    "pandas",
    "numpy",
    "scipy",
    "joblib",
    "pydantic",
)


def pinned_packages() -> list[str]:
    """`name==version` for every package the procedure imports."""
    return [f"{name}=={version(name)}" for name in RUNTIME_PACKAGES]


def package_tasks(folder: Path) -> Path:
    """The tasks package as one zip import (a folder import would upload the whole repo)."""
    archive = folder / "lifeline_tasks.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((ROOT / "tasks").rglob("*.py")):
            zf.write(path, str(path.relative_to(ROOT)))
    return archive


def train_procedure(
    session: Session, table: str, config_json: str, horizon_days: int, stage: str
) -> str:
    """Stored-procedure body: read TABLE, fit, put the models in STAGE, return metrics JSON."""
    import joblib

    from tasks.modeling import ModelConfig, fit_models

    training_set = session.table(table).to_pandas()
    result = fit_models(training_set, ModelConfig.model_validate_json(config_json), horizon_days)
    with tempfile.TemporaryDirectory(prefix="lifeline-sp-") as tmp:
        path = Path(tmp) / MODEL_FILE
        joblib.dump(result, path)
        session.file.put(str(path), stage, auto_compress=False, overwrite=True)
    return json.dumps(
        {"metrics": result.metrics, "rows": result.rows, "model": f"{stage}/{MODEL_FILE}"}
    )


class SnowparkTrainer:
    """Registers the training procedure in Snowflake, calls it, reads the model back."""

    name = "snowpark"

    def __init__(self, settings: Any, session: Any = None) -> None:
        self.settings = settings
        self._session = session

    def preflight(self) -> None:
        """Fail before any data moves unless a Snowflake session can be had."""
        if self._session is not None:
            return
        if self.settings.target != "snowflake":
            raise TrainerUnavailableError(
                "trainer 'snowpark' needs the Snowflake warehouse (LIFELINE_TARGET=snowflake "
                "and a connection); this run uses the local DuckDB warehouse"
            )
        if not (
            self.settings.snowflake_connector_block
            or self.settings.snowflake_connection_name
            or self.settings.snowflake_account
        ):
            raise TrainerUnavailableError(
                "trainer 'snowpark' found no Snowflake connection: set "
                "LIFELINE_SNOWFLAKE_CONNECTOR_BLOCK, LIFELINE_SNOWFLAKE_CONNECTION_NAME or "
                "LIFELINE_SNOWFLAKE_ACCOUNT"
            )

    @property
    def session(self) -> Any:
        """The Snowpark session (given, or handed out by the warehouse in fit)."""
        if self._session is None:
            raise TrainerUnavailableError("trainer 'snowpark' has no Snowflake session")
        return self._session

    def register(self) -> Any:
        """(Re)register the procedure with pinned packages and the tasks package as import."""
        from snowflake.snowpark.types import IntegerType, StringType

        code = self.settings.home_dir / "snowpark"
        code.mkdir(exist_ok=True)
        return self.session.sproc.register(
            train_procedure,
            name=PROCEDURE,
            return_type=StringType(),
            input_types=[StringType(), StringType(), IntegerType(), StringType()],
            packages=pinned_packages(),
            imports=[str(package_tasks(code))],
            artifact_repository=self.settings.snowpark_artifact_repository,
            replace=True,
        )

    def fit(self, wh: Warehouse, training_set: TrainingSet, config: ModelConfig) -> TrainResult:
        """Stage the training set next to the data and train on it there."""
        if self._session is None:
            self._session = wh.snowpark_session()
        table = training_set.stage(wh)
        try:
            return self.train_table(table, config, training_set.horizon_days)
        finally:
            wh.drop_table(table)

    def train(
        self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int
    ) -> TrainResult:
        """Upload a frame to a temporary table, then train on it in Snowflake."""
        table = f"ML.STG_TRAINING_{uuid.uuid4().hex[:12].upper()}"
        self.session.create_dataframe(training_set).write.mode("overwrite").save_as_table(
            table, table_type="temporary"
        )
        return self.train_table(table, config, horizon_days)

    def train_table(self, table: str, config: ModelConfig, horizon_days: int) -> TrainResult:
        """Run the procedure on TABLE (never leaves Snowflake) and load the staged models."""
        validate_identifier(table, 3)
        run_stage = f"{self.settings.snowpark_stage.rstrip('/')}/{uuid.uuid4().hex}"
        self.register()
        reply = json.loads(
            self.session.call(PROCEDURE, table, config.model_dump_json(), horizon_days, run_stage)
        )
        return self.fetch(reply["model"])

    def fetch(self, staged_model: str) -> TrainResult:
        """Download the staged models and check they are Lifeline's."""
        import joblib

        with tempfile.TemporaryDirectory(prefix="lifeline-sp-get-") as tmp:
            try:
                self.session.file.get(staged_model, tmp)
            except Exception as exc:  # Snowflake returns nothing, local testing raises
                raise SnowparkTrainingError(f"no model came back from {staged_model}") from exc
            files = list(Path(tmp).rglob(MODEL_FILE))
            if not files:
                raise SnowparkTrainingError(f"no model came back from {staged_model}")
            result = joblib.load(files[0])
        if not isinstance(result, TrainResult):
            raise SnowparkTrainingError(f"{staged_model} is not a Lifeline model")
        return result
