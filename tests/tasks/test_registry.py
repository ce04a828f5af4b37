"""Promotion policy: a worse challenger stays challenger, a better one becomes champion."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from tasks import registry
from tasks.modeling import ModelConfig, fit_models, served_predictions
from tasks.settings import load_settings
from tests.tasks.test_modeling import training_set


@pytest.fixture
def client(tmp_path):
    """MLflow on a sqlite file in a temporary home."""
    return registry.configure_mlflow(load_settings(home=tmp_path))


def test_first_model_is_champion_worse_is_not_better_is(client: MlflowClient):
    data = training_set(1500)
    holdout = data[data["ROLE"] == "holdout"]
    good = fit_models(data, ModelConfig(max_iter=60), 90)
    # a model trained on shuffled labels is worse on the same holdout
    shuffled = data.copy()
    shuffled["CHURNED"] = shuffled["CHURNED"].sample(frac=1, random_state=1).to_numpy()
    bad = fit_models(shuffled, ModelConfig(max_iter=60), 90)

    decisions = []
    for result in (bad, good, bad):
        predicted = served_predictions(result, holdout)
        versions, _, _ = registry.log_training_run(
            result, {"as_of": "2025-06-01"}, holdout, predicted
        )
        decisions.append(
            registry.promote(
                client,
                registry.CHURN_MODEL,
                versions[registry.CHURN_MODEL],
                registry.holdout_score(registry.CHURN_MODEL, result.churn_model, holdout),
                holdout,
                margin=0.0,
            )
        )
    assert [d["promoted"] for d in decisions] == [True, True, False]
    assert decisions[0]["reason"] == "first model"
    assert decisions[2]["champion_version"] == decisions[1]["version"]
    champion = client.get_model_version_by_alias(registry.CHURN_MODEL, "champion")
    challenger = client.get_model_version_by_alias(registry.CHURN_MODEL, "challenger")
    assert str(champion.version) == decisions[1]["version"]
    assert str(challenger.version) == decisions[2]["version"]
    model, version = registry.load_champion(registry.CHURN_MODEL)
    assert version == str(champion.version)
    assert model.predict_proba(holdout[list(good.features)].astype(float)).shape[1] == 2
    # reason codes read the champion's own importances, not the last run's
    importances = registry.model_importances(registry.CHURN_MODEL, version)
    assert importances == pytest.approx(good.importances)
    assert good.importances != bad.importances


def test_margin_and_direction():
    assert registry.beats(registry.CHURN_MODEL, 0.80, 0.79, 0.0)
    assert not registry.beats(registry.CHURN_MODEL, 0.80, 0.79, 0.02)
    assert registry.beats(registry.CLV_MODEL, 90.0, 100.0, 0.05)
    assert not registry.beats(registry.CLV_MODEL, 96.0, 100.0, 0.05)
    assert not registry.beats(registry.CHURN_MODEL, 0.8 + 1e-15, 0.8, 0.0)
