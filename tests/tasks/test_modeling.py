"""Shared model code: honest split, metrics beside baselines, interchangeable output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.catalogue import FEATURE_NAMES
from tasks.modeling import (
    ModelConfig,
    expected_calibration_error,
    fit_models,
    normalized_gini,
    split_holdout,
    top_decile,
)


def training_set(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """A synthetic training set where recency drives churn."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    frame["RECENCY_DAYS"] = rng.exponential(10, n)
    frame["SPEND_90"] = rng.gamma(2, 500, n)
    p = 1 / (1 + np.exp(-(frame["RECENCY_DAYS"] - 15) / 4))
    frame["CHURNED"] = (rng.random(n) < p).astype(int)
    frame["FUTURE_VALUE"] = frame["SPEND_90"] * (1 - frame["CHURNED"]) * rng.uniform(0.5, 1.5, n)
    frame["AS_OF_DATE"] = np.where(np.arange(n) < n * 0.8, "2025-01-01", "2025-06-01")
    frame["ROLE"] = np.where(np.arange(n) < n * 0.8, "train", "holdout")
    return frame


def test_fit_reports_model_and_baseline_metrics():
    result = fit_models(training_set(), ModelConfig(max_iter=50), 90)
    for key in ("roc_auc", "pr_auc", "brier", "ece", "top_decile_lift", "top_decile_capture"):
        assert f"churn_{key}" in result.metrics and f"churn_baseline_{key}" in result.metrics
    for key in ("mae", "rmse", "spearman", "normalized_gini", "total_predicted"):
        assert f"clv_{key}" in result.metrics and f"clv_baseline_{key}" in result.metrics
    assert result.metrics["churn_roc_auc"] > 0.75
    assert result.metrics["clv_mae"] < result.metrics["clv_baseline_mae"]
    assert next(iter(result.importances)) == "RECENCY_DAYS"
    x = training_set(5)[list(FEATURE_NAMES)]
    assert result.churn_model.predict_proba(x).shape == (5, 2)


def test_holdout_must_follow_training_in_time():
    frame = training_set()
    frame.loc[frame["ROLE"] == "train", "AS_OF_DATE"] = "2026-01-01"
    with pytest.raises(ValueError, match="precede the holdout"):
        split_holdout(frame)
    with pytest.raises(ValueError, match="too short"):
        split_holdout(frame[frame["ROLE"] == "train"])


def test_one_class_training_cut_offs_say_which_class_and_what_may_help():
    frame = training_set()
    frame.loc[frame["ROLE"] == "train", "CHURNED"] = 1
    with pytest.raises(ValueError) as raised:
        split_holdout(frame)
    message = str(raised.value)
    rows = int((frame["ROLE"] == "train").sum())
    assert f"all {rows:,} (customers x" in message and "churned" in message
    assert "holdout at" in message and "has both classes" in message
    assert "--horizon-days" in message and "train_snapshots" in message


def test_metric_helpers():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0])) == 1
    lift, capture = top_decile(np.array([1] + [0] * 9), np.arange(10)[::-1].astype(float))
    assert lift == 10 and capture == 1
    actual = np.array([1.0, 2.0, 3.0, 10.0])
    assert normalized_gini(actual, actual) == pytest.approx(1.0)


def test_blends_are_candidates_not_baselines_and_average_their_parts(tmp_path):
    from tasks.modeling import BlendRegressor, is_baseline, predict_clv
    from tasks.registry import SKOPS_TRUSTED_TYPES

    data = training_set()
    result = fit_models(data, ModelConfig(max_iter=50), 90)
    assert "clv_blend_trailing_spend_rmse" in result.metrics
    assert "churn_blend_logistic_roc_auc" in result.metrics
    assert not is_baseline("blend_trailing_spend") and not is_baseline("booster")
    assert is_baseline("trailing_spend") and is_baseline("logistic")
    # the best baseline is never a blend: the bar stays the textbook models
    assert not result.served["clv_best_baseline"].startswith("blend_")
    # a blend is the mean of its parts and survives the registry's skops round trip
    import skops.io

    from tasks.modeling import ColumnRegressor, build_clv_model, matrix

    holdout = data[data["ROLE"] == "holdout"]
    booster = build_clv_model(ModelConfig(max_iter=20)).fit(
        matrix(data, FEATURE_NAMES), data["FUTURE_VALUE"]
    )
    trailing = ColumnRegressor("SPEND_90").fit(data)
    blend = BlendRegressor(booster, trailing).fit()
    expected = (predict_clv(booster, holdout) + predict_clv(trailing, holdout)) / 2
    np.testing.assert_allclose(predict_clv(blend, holdout), expected)
    path = tmp_path / "blend.skops"
    skops.io.dump(blend, path)
    loaded = skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)  # what MLflow loads with
    np.testing.assert_allclose(predict_clv(loaded, holdout), expected)


def test_the_logistic_baseline_imputes_medians_like_sklearn_and_loads_from_skops(tmp_path):
    import skops.io
    from sklearn.impute import SimpleImputer

    from tasks.modeling import MedianImputer, build_churn_baseline, matrix
    from tasks.registry import SKOPS_TRUSTED_TYPES

    data = training_set()
    x = matrix(data, FEATURE_NAMES)
    x = x.mask(np.random.default_rng(1).random(x.shape) < 0.3)
    x["AGE"] = np.nan  # a feature the warehouse never filled
    ours = MedianImputer().fit(x)
    theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(x)
    np.testing.assert_allclose(ours.statistics_, theirs.statistics_)
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x))
    assert ours.statistics_[list(x.columns).index("AGE")] == 0.0
    model = build_churn_baseline(ModelConfig()).fit(x, data["CHURNED"].to_numpy(int))
    path = tmp_path / "logistic.skops"
    skops.io.dump(model, path)
    loaded = skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES)  # what MLflow loads with
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    # a logistic baseline registered before MedianImputer still loads
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    old = Pipeline([("impute", theirs), ("model", LogisticRegression())])
    old.fit(x, data["CHURNED"].to_numpy(int))
    skops.io.dump(old, path)
    np.testing.assert_allclose(
        skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES).predict_proba(x), old.predict_proba(x)
    )


def test_a_log_without_spend_still_models_churn_and_registers_a_zero_clv(tmp_path):
    import skops.io

    from tasks.registry import SKOPS_TRUSTED_TYPES, serving_reason

    frame = training_set()
    frame["FUTURE_VALUE"] = 0.0  # amounts all zero: Poisson boosting cannot fit
    result = fit_models(frame, ModelConfig(max_iter=50), 90)
    assert result.metrics["churn_roc_auc"] > 0.75
    x = frame[list(FEATURE_NAMES)]
    assert not result.clv_model.predict(x).any()
    assert result.served["clv_booster"] == "constant"
    assert serving_reason(result, "clv").startswith("the constant 0 (no spend to learn) serves")
    path = tmp_path / "clv.skops"
    skops.io.dump(result.clv_model, path)
    assert not skops.io.load(path, trusted=SKOPS_TRUSTED_TYPES).predict(x).any()
