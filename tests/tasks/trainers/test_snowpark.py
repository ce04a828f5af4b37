"""Snowpark trainer: the stored procedure run in Snowpark local-testing mode."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import pytest
from snowflake.snowpark import Session

from tasks.modeling import ModelConfig, TrainResult, matrix
from tasks.settings import load_settings
from tasks.trainers import TrainerUnavailableError, get_trainer
from tasks.trainers.local import LocalTrainer
from tasks.trainers.snowpark import (
    PROCEDURE,
    SnowparkTrainer,
    SnowparkTrainingError,
    package_tasks,
    pinned_packages,
)
from tests.tasks.test_modeling import training_set


@pytest.fixture(scope="module")
def session():
    """A Snowpark session in local-testing mode (tables, stages and procedures in process)."""
    session = Session.builder.config("local_testing", True).create()
    yield session
    session.close()


def test_procedure_trains_in_the_warehouse_and_matches_the_local_trainer(session, tmp_path):
    data, config = training_set(900), ModelConfig(max_iter=40)
    session.create_dataframe(data).write.mode("overwrite").save_as_table("ML.TRAINING_SET")
    trainer = SnowparkTrainer(load_settings(home=tmp_path), session=session)
    trainer.register()
    reply = json.loads(
        session.call(PROCEDURE, "ML.TRAINING_SET", config.model_dump_json(), 90, "@ML.M/run1")
    )
    assert reply["model"] == "@ML.M/run1/lifeline_models.joblib"
    assert reply["rows"] == {"train": 720, "holdout": 180}
    result = trainer.fetch(reply["model"])
    local = LocalTrainer().train(data, config, 90)
    assert isinstance(result, TrainResult)
    assert result.features == local.features
    assert type(result.churn_model) is type(local.churn_model)
    assert type(result.clv_model) is type(local.clv_model)
    holdout = matrix(data[data["ROLE"] == "holdout"], result.features)
    assert result.churn_model.predict_proba(holdout).shape == (len(holdout), 2)
    assert reply["metrics"]["churn_roc_auc"] == pytest.approx(local.metrics["churn_roc_auc"])
    assert result.metrics == pytest.approx(local.metrics)


def test_train_uploads_a_frame_and_returns_the_models(session, tmp_path):
    data = training_set(600, seed=3)
    trainer = SnowparkTrainer(load_settings(home=tmp_path), session=session)
    result = trainer.train(data, ModelConfig(max_iter=30), 90)
    assert result.rows == {"train": 480, "holdout": 120}
    assert result.metrics["churn_roc_auc"] > 0.7


def test_a_missing_staged_model_is_a_clear_error(session, tmp_path):
    trainer = SnowparkTrainer(load_settings(home=tmp_path), session=session)
    with pytest.raises(SnowparkTrainingError, match="no model came back"):
        trainer.fetch("@ML.M/never-written/lifeline_models.joblib")


def test_the_code_import_is_a_zip_of_the_tasks_package(tmp_path):
    archive = package_tasks(tmp_path)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); import tasks.modeling as m; print(m.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(archive)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == f"{archive}/tasks/modeling.py"
    assert len(zipfile.ZipFile(archive).namelist()) < 100  # the package, not the repository


def test_packages_are_pinned_to_this_environment():
    pins = dict(p.split("==") for p in pinned_packages())
    assert {"scikit-learn", "pandas", "snowflake-snowpark-python"} <= set(pins)
    assert not {"sqlglot", "duckdb"} & set(pins)  # model code needs no warehouse
    assert all(v[0].isdigit() for v in pins.values())


def test_preflight_without_a_snowflake_session_fails_before_any_work(tmp_path):
    with pytest.raises(TrainerUnavailableError, match="LIFELINE_TARGET=snowflake"):
        get_trainer("snowpark", load_settings(home=tmp_path)).preflight()
    settings = load_settings(home=tmp_path, target="snowflake")
    with pytest.raises(TrainerUnavailableError, match="no Snowflake connection"):
        get_trainer("snowpark", settings).preflight()
    configured = load_settings(home=tmp_path, target="snowflake", snowflake_account="acme-xy")
    get_trainer("snowpark", configured).preflight()
