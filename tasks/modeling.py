"""The one module that builds, fits and evaluates Lifeline's scikit-learn models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from tasks.catalogue import FEATURE_NAMES


class ModelConfig(BaseModel):
    """Hyperparameters shared by every trainer (local, Snowpark, SageMaker)."""

    # 0.1 rather than 0.06: early stopping halts both boosters in about half the trees
    # (tier L: churn 123 vs 223, CLV 153 vs 300) at equal or better holdout scores, which
    # halves fitting and prediction. Above ~0.12 the Poisson booster can overshoot.
    learning_rate: float = Field(0.1, gt=0, le=1)
    max_iter: int = Field(300, ge=10, le=5000)
    max_leaf_nodes: int = Field(31, ge=4, le=512)
    l2_regularization: float = Field(1.0, ge=0)
    calibration_folds: int = Field(3, ge=2, le=10)
    time_calibration_min_rows: int = Field(150_000, ge=0)
    # Training rows above this are a sample of whole customers: bounds training time and
    # memory at millions of customers (tier L's 471 K rows are all used).
    max_train_rows: int = Field(1_000_000, ge=1_000)
    random_state: int = 42
    features: tuple[str, ...] = FEATURE_NAMES


@dataclass
class TrainResult:
    """What every trainer returns: the served models, every candidate's holdout metrics.

    The served model of each task is the candidate with the best holdout score, baselines
    included: a booster that loses to BG/NBD is not served, BG/NBD is.
    """

    churn_model: object
    clv_model: object
    metrics: dict[str, float]
    importances: dict[str, float] = field(default_factory=dict)
    features: tuple[str, ...] = FEATURE_NAMES
    rows: dict[str, int] = field(default_factory=dict)
    served: dict[str, str] = field(default_factory=dict)


def model_features(model: object) -> tuple[str, ...]:
    """The columns a fitted model reads, in order (every candidate records them)."""
    return tuple(str(c) for c in model.feature_names_in_)


class Blend(BaseEstimator):
    """Two fitted models averaged (booster with one baseline): the shared inputs part.

    Averaging a flexible model with a simple one damps the booster's overfit to the few,
    often censored, training cut-offs a real log allows; the holdout decides if it serves.
    """

    def __init__(self, first: object = None, second: object = None):
        self.first = first
        self.second = second

    def fit(self, x: pd.DataFrame | None = None, y: np.ndarray | None = None) -> Blend:
        """Record the union of both models' inputs (both are fitted already)."""
        names = dict.fromkeys(model_features(self.first) + model_features(self.second))
        self.feature_names_in_ = np.array(list(names), dtype=object)
        self.n_features_in_ = len(names)
        return self


class BlendClassifier(ClassifierMixin, Blend):
    """The mean of two fitted churn models' probabilities."""

    def fit(self, x: pd.DataFrame | None = None, y: np.ndarray | None = None) -> BlendClassifier:
        """Record both models' inputs and the two classes."""
        super().fit(x, y)
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """[P(stays), P(churns)] per row: the mean of both models."""
        p = (predict_churn(self.first, x) + predict_churn(self.second, x)) / 2
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Churned (1) when P(churns) >= 0.5."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


class BlendRegressor(RegressorMixin, Blend):
    """The mean of two fitted CLV models' predictions."""

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """The mean of both models' predictions, never negative."""
        return (predict_clv(self.first, x) + predict_clv(self.second, x)) / 2


class ColumnClassifier(ClassifierMixin, BaseEstimator):
    """A one-column churn baseline (BG/NBD's P(no purchase), recency) as a servable model.

    With calibrate=False the column already is a probability and is served as it is; with
    calibrate=True a one-feature logistic regression on log1p(column) maps it to one
    (monotone, so the ranking and ROC AUC are the column's own).
    """

    def __init__(self, column: str = "RECENCY_DAYS", calibrate: bool = False):
        self.column = column
        self.calibrate = calibrate

    def column_values(self, x: pd.DataFrame) -> np.ndarray:
        """The column as floats, missing values filled with the training mean."""
        values = np.asarray(x[self.column], dtype=float)
        return np.where(np.isnan(values), self.fill_, values)

    def fit(self, x: pd.DataFrame, y: np.ndarray) -> ColumnClassifier:
        """Learn the fill value (and the calibration, when asked)."""
        self.feature_names_in_ = np.array([self.column], dtype=object)
        self.n_features_in_ = 1
        self.classes_ = np.array([0, 1])
        raw = np.asarray(x[self.column], dtype=float)
        self.fill_ = float(np.nanmean(raw)) if np.isfinite(raw).any() else 0.5
        self.logistic_ = None
        if self.calibrate:
            z = np.log1p(np.clip(self.column_values(x), 0, None)).reshape(-1, 1)
            self.logistic_ = LogisticRegression().fit(z, np.asarray(y, dtype=int))
        return self

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        """[P(stays), P(churns)] per row."""
        values = self.column_values(x)
        if self.logistic_ is not None:
            p = self.logistic_.predict_proba(np.log1p(np.clip(values, 0, None)).reshape(-1, 1))
            return p
        p = np.clip(values, 0.0, 1.0)
        return np.column_stack([1 - p, p])

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """Churned (1) when P(churns) >= 0.5."""
        return (self.predict_proba(x)[:, 1] >= 0.5).astype(int)


class ColumnRegressor(RegressorMixin, BaseEstimator):
    """A one-column CLV baseline (BG/NBD x Gamma-Gamma value, trailing spend) as a model."""

    def __init__(self, column: str = "SPEND_90", scale: float = 1.0):
        self.column = column
        self.scale = scale

    def fit(self, x: pd.DataFrame, y: np.ndarray | None = None) -> ColumnRegressor:
        """Learn the fill value for missing inputs (the training mean)."""
        self.feature_names_in_ = np.array([self.column], dtype=object)
        self.n_features_in_ = 1
        raw = np.asarray(x[self.column], dtype=float)
        self.fill_ = float(np.nanmean(raw)) if np.isfinite(raw).any() else 0.0
        return self

    def predict(self, x: pd.DataFrame) -> np.ndarray:
        """The column times SCALE, never negative."""
        values = np.asarray(x[self.column], dtype=float)
        values = np.where(np.isnan(values), self.fill_, values)
        return np.clip(values * self.scale, 0, None)


def build_churn_booster(config: ModelConfig) -> HistGradientBoostingClassifier:
    """The uncalibrated gradient-boosting churn classifier."""
    return HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        early_stopping=True,
        random_state=config.random_state,
    )


def fit_churn_model(
    config: ModelConfig, train: pd.DataFrame, features: tuple[str, ...]
) -> Pipeline:
    """Boost on the earlier training snapshots, calibrate (isotonic) on the latest one.

    Calibrating on a later cut-off than the booster saw mirrors how the model is used (on a
    future population) and costs one boosting fit instead of one per fold. Small training
    sets (or a single snapshot) use cross-validated calibration instead: there, holding out
    a whole cut-off costs the booster more than it gains (demo: AUC 0.823 vs 0.839).
    """
    latest = train["AS_OF_DATE"].max()
    fit_rows, cal_rows = train[train["AS_OF_DATE"] < latest], train[train["AS_OF_DATE"] == latest]
    small = len(train) < config.time_calibration_min_rows
    if small or fit_rows["CHURNED"].nunique() < 2 or cal_rows["CHURNED"].nunique() < 2:
        calibrated = CalibratedClassifierCV(
            build_churn_booster(config), method="isotonic", cv=config.calibration_folds
        ).fit(matrix(train, features), train["CHURNED"].to_numpy(int))
        return Pipeline([("model", calibrated)])
    booster = build_churn_booster(config).fit(
        matrix(fit_rows, features), fit_rows["CHURNED"].to_numpy(int)
    )
    calibrated = CalibratedClassifierCV(FrozenEstimator(booster), method="isotonic").fit(
        matrix(cal_rows, features), cal_rows["CHURNED"].to_numpy(int)
    )
    return Pipeline([("model", calibrated)])


class MedianImputer(TransformerMixin, BaseEstimator):
    """Missing values set to the column's training median (0 for a column with none).

    SimpleImputer's median sorts a masked array: 3.5 s on tier L's 471 K rows, against
    0.4 s for np.nanmedian, with the same medians.
    """

    def fit(self, x: pd.DataFrame | np.ndarray, y: np.ndarray | None = None) -> MedianImputer:
        """Record each column's median, ignoring missing values."""
        values = np.asarray(x, dtype=float)
        if hasattr(x, "columns"):
            self.feature_names_in_ = np.asarray(x.columns, dtype=object)
        self.n_features_in_ = values.shape[1]
        present = ~np.isnan(values).all(axis=0)
        self.statistics_ = np.zeros(values.shape[1])
        self.statistics_[present] = np.nanmedian(values[:, present], axis=0)
        return self

    def transform(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """A float copy of X with each missing value set to its column's median."""
        values = np.array(x, dtype=float)
        missing = np.isnan(values)
        values[missing] = np.broadcast_to(self.statistics_, values.shape)[missing]
        return values


def build_churn_baseline(config: ModelConfig) -> Pipeline:
    """Logistic regression on imputed, scaled features: the bar the booster must clear."""
    return Pipeline(
        [
            ("impute", MedianImputer()),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(max_iter=2000, random_state=config.random_state)),
        ]
    )


def build_clv_model(config: ModelConfig) -> Pipeline:
    """Poisson-loss gradient boosting: suits skewed, zero-heavy future spend."""
    booster = HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        early_stopping=True,
        random_state=config.random_state,
    )
    return Pipeline([("model", booster)])


def split_holdout(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train rows and the time-based holdout (the latest labelled snapshot), never random."""
    train = training_set[training_set["ROLE"] == "train"]
    holdout = training_set[training_set["ROLE"] == "holdout"]
    if train.empty or holdout.empty:
        raise ValueError(
            f"need both train and holdout snapshots with labels (train={len(train)}, "
            f"holdout={len(holdout)}): the history is too short for this horizon"
        )
    if train["CHURNED"].nunique() < 2:
        raise ValueError(one_class_training(train, holdout))
    if train["AS_OF_DATE"].max() >= holdout["AS_OF_DATE"].min():
        raise ValueError("training snapshots must precede the holdout")
    return train, holdout


def one_class_training(train: pd.DataFrame, holdout: pd.DataFrame) -> str:
    """Why no churn model can be fitted when the training cut-offs' labels are one class."""
    outcome = "churned" if bool(train["CHURNED"].iloc[0]) else "stayed"
    n = train["AS_OF_DATE"].nunique()
    cut_offs = f"{n} training cut-off{'s' if n > 1 else ''}"
    holdout_classes = "both classes" if holdout["CHURNED"].nunique() > 1 else "one class too"
    return (
        f"training labels have a single class: all {len(train):,} (customers x {cut_offs}) "
        f"{outcome}, while the holdout at {holdout['AS_OF_DATE'].min()} has "
        f"{holdout_classes}; cannot fit a churn model. A different --horizon-days (parameter "
        "horizon_days) or more training cut-offs (parameter train_snapshots) may give both"
    )


def matrix(frame: pd.DataFrame, features: tuple[str, ...]) -> pd.DataFrame:
    """The model input: the feature columns as float, in a fixed order."""
    return frame.loc[:, list(features)].astype(float)


def usable_features(train: pd.DataFrame, features: tuple[str, ...]) -> tuple[str, ...]:
    """FEATURES with values at every training cut-off (inputs may be absent or censored).

    A feature empty at a whole cut-off (e.g. a 90-day trend before the log has 180 days of
    history) would leave the booster's earlier-snapshot fit with an all-missing column.
    """
    present = [f for f in features if f in train.columns]
    filled = train[present].notna().groupby(train["AS_OF_DATE"]).any().all()
    return tuple(f for f in present if filled[f])


def has_values(frame: pd.DataFrame, column: str) -> bool:
    """Whether COLUMN exists in FRAME and has any value (a baseline needs its input)."""
    return column in frame.columns and bool(frame[column].notna().any())


def is_baseline(candidate: str) -> bool:
    """Whether CANDIDATE is a baseline (not the booster or a blend with it)."""
    return candidate != "booster" and not candidate.startswith("blend_")


def churn_candidates(
    config: ModelConfig, train: pd.DataFrame, holdout: pd.DataFrame, features: tuple[str, ...]
) -> dict[str, object]:
    """The booster, the logistic baseline and the one-column baselines, fitted on TRAIN."""
    x, y = matrix(train, features), train["CHURNED"].to_numpy(int)
    models: dict[str, object] = {
        "booster": fit_churn_model(config, train, features),
        "logistic": build_churn_baseline(config).fit(x, y),
    }
    for name, column, calibrate in (
        ("bgnbd", "BGNBD_P_NO_PURCHASE", False),
        ("pnbd", "PNBD_P_NO_PURCHASE", False),
        ("recency", "RECENCY_DAYS", True),
    ):
        if has_values(holdout, column):
            models[name] = ColumnClassifier(column, calibrate).fit(train, y)
    booster = models["booster"]
    for name in [n for n in models if n != "booster"]:
        models[f"blend_{name}"] = BlendClassifier(booster, models[name]).fit()
    return models


def clv_candidates(
    config: ModelConfig,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    features: tuple[str, ...],
    horizon_days: int,
) -> dict[str, object]:
    """The Poisson booster and the one-column value baselines, fitted on TRAIN."""
    target = np.clip(train["FUTURE_VALUE"].to_numpy(float), 0, None)
    # Poisson boosting needs some spend to fit; with none in any label window (a log of zero
    # amounts) the zero it would learn is the booster, so churn is still modelled.
    booster = build_clv_model(config) if target.any() else Pipeline([("model", DummyRegressor())])
    models: dict[str, object] = {"booster": booster.fit(matrix(train, features), target)}
    for name, column, scale in (
        ("bgnbd_gg", "BGNBD_EXPECTED_VALUE", 1.0),
        ("pnbd_gg", "PNBD_EXPECTED_VALUE", 1.0),
        ("trailing_spend", "SPEND_90", horizon_days / 90.0),
    ):
        if has_values(holdout, column):
            models[name] = ColumnRegressor(column, scale).fit(train)
    booster = models["booster"]
    for name in [n for n in models if n != "booster"]:
        models[f"blend_{name}"] = BlendRegressor(booster, models[name]).fit()
    return models


def is_constant(model: object) -> bool:
    """Whether MODEL is the constant a CLV booster becomes with no spend to learn from."""
    return isinstance(model, Pipeline) and isinstance(model[-1], DummyRegressor)


def percentage_points(probability: np.ndarray) -> np.ndarray:
    """A probability as whole percentage points (0-100): the risk score, and drift's unit."""
    return np.rint(np.asarray(probability, float) * 100)


def predict_churn(model: object, frame: pd.DataFrame) -> np.ndarray:
    """P(churn) from any churn candidate, reading its own columns."""
    return model.predict_proba(matrix(frame, model_features(model)))[:, 1]


def predict_clv(model: object, frame: pd.DataFrame) -> np.ndarray:
    """Predicted horizon value from any CLV candidate, never negative."""
    return np.clip(model.predict(matrix(frame, model_features(model))), 0, None)


def served_predictions(result: TrainResult, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """{task: the served model's predictions on FRAME}, for the charts and the promotion."""
    return {
        "churn": predict_churn(result.churn_model, frame),
        "clv": predict_clv(result.clv_model, frame),
    }


def holdout_predictions(
    models: dict[str, object],
    predict: Callable[[object, pd.DataFrame], np.ndarray],
    frame: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Each candidate's predictions on FRAME; a blend averages its parts' (each predicted once).

    The same mean a Blend computes: a blend's parts are candidates already predicted.
    """
    found: dict[str, np.ndarray] = {}
    by_model = {id(model): name for name, model in models.items()}
    for name, model in models.items():
        parts = (model.first, model.second) if isinstance(model, Blend) else ()
        if parts and all(id(part) in by_model for part in parts):
            found[name] = (found[by_model[id(parts[0])]] + found[by_model[id(parts[1])]]) / 2
        else:
            found[name] = predict(model, frame)
    return found


def pick_served(scores: dict[str, float], higher_is_better: bool) -> str:
    """The best candidate; ties go to the earlier one (the booster is listed first)."""
    sign = 1 if higher_is_better else -1
    finite = {k: v for k, v in scores.items() if np.isfinite(v)}
    return max(finite, key=lambda k: sign * finite[k]) if finite else next(iter(scores))


def fit_models(training_set: pd.DataFrame, config: ModelConfig, horizon_days: int) -> TrainResult:
    """Fit every candidate on the training cut-offs, evaluate all on the holdout, pick each.

    Metrics: churn_<candidate>_<metric> and clv_<candidate>_<metric> for every candidate;
    churn_<metric> / clv_<metric> for the served one; *_baseline_* for the best baseline.
    """
    train, holdout = split_holdout(training_set)
    features = usable_features(train, config.features)
    y_hold = holdout["CHURNED"].to_numpy(int)
    actual = holdout["FUTURE_VALUE"].to_numpy(float)
    churn_models = churn_candidates(config, train, holdout, features)
    clv_models = clv_candidates(config, train, holdout, features, horizon_days)
    metrics: dict[str, float] = {"holdout_churn_rate": float(y_hold.mean())}
    churn_scores, clv_scores = {}, {}
    for name, p in holdout_predictions(churn_models, predict_churn, holdout).items():
        found = churn_metrics(y_hold, p)
        metrics |= {f"churn_{name}_{k}": v for k, v in found.items()}
        churn_scores[name] = found["roc_auc"]
    for name, p in holdout_predictions(clv_models, predict_clv, holdout).items():
        found = clv_metrics(actual, p)
        metrics |= {f"clv_{name}_{k}": v for k, v in found.items()}
        clv_scores[name] = found["rmse"]
    served = {
        "churn": pick_served(churn_scores, higher_is_better=True),
        "clv": pick_served(clv_scores, higher_is_better=False),
    }
    best_baseline = {
        "churn": pick_served({k: v for k, v in churn_scores.items() if is_baseline(k)}, True),
        "clv": pick_served({k: v for k, v in clv_scores.items() if is_baseline(k)}, False),
    }
    for task in ("churn", "clv"):
        prefix = f"{task}_{served[task]}_"
        base = f"{task}_{best_baseline[task]}_"
        for key in [k for k in metrics if k.startswith(prefix)]:
            metrics[f"{task}_{key[len(prefix) :]}"] = metrics[key]
        for key in [k for k in metrics if k.startswith(base)]:
            metrics[f"{task}_baseline_{key[len(base) :]}"] = metrics[key]
    churn = churn_models[served["churn"]]
    return TrainResult(
        churn,
        clv_models[served["clv"]],
        metrics,
        churn_importances(churn, matrix(holdout, model_features(churn)), y_hold, config),
        features,
        {"train": len(train), "holdout": len(holdout)},
        served
        | {f"{k}_best_baseline": v for k, v in best_baseline.items()}
        # no label window held any spend: the CLV "booster" is the constant 0
        | ({"clv_booster": "constant"} if is_constant(clv_models["booster"]) else {}),
    )


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |observed - predicted| rate over equal-width probability bins, weighted by size."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return float(total / len(y))


def top_decile(y: np.ndarray, score: np.ndarray) -> tuple[float, float]:
    """(lift, capture rate) of the 10 % highest scores."""
    k = max(1, int(np.ceil(len(y) * 0.1)))
    top = np.argsort(-score, kind="stable")[:k]
    rate, base = y[top].mean(), y.mean()
    lift = float(rate / base) if base > 0 else float("nan")
    capture = float(y[top].sum() / y.sum()) if y.sum() > 0 else float("nan")
    return lift, capture


def churn_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, ECE, top-decile lift and capture."""
    lift, capture = top_decile(y, p)
    two_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "top_decile_lift": lift,
        "top_decile_capture": capture,
    }


def normalized_gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of actual value ordered by prediction, over the Gini of the perfect order."""

    def gini(order_by: np.ndarray) -> float:
        order = np.argsort(-order_by, kind="stable")
        cum = np.cumsum(actual[order]) / actual.sum()
        return float((cum - np.arange(1, len(actual) + 1) / len(actual)).sum() / len(actual))

    perfect = gini(actual)
    return gini(predicted) / perfect if perfect else float("nan")


def clv_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, Spearman, normalised Gini, top-decile lift and value totals."""
    value_lift = (
        float(actual[np.argsort(-predicted)[: max(1, len(actual) // 10)]].mean() / actual.mean())
        if actual.mean()
        else float("nan")
    )
    return {
        "mae": float(mean_absolute_error(actual, predicted)),
        "rmse": float(np.sqrt(mean_squared_error(actual, predicted))),
        "spearman": float(spearmanr(actual, predicted).statistic),
        "normalized_gini": normalized_gini(actual, predicted),
        "top_decile_value_lift": value_lift,
        "total_predicted": float(predicted.sum()),
        "total_actual": float(actual.sum()),
    }


def churn_importances(
    model: Pipeline, x: pd.DataFrame, y: np.ndarray, config: ModelConfig, max_rows: int = 3000
) -> dict[str, float]:
    """Permutation importance (drop in ROC AUC) on a sample of the holdout."""
    if len(np.unique(y)) < 2:
        return {}
    rng = np.random.default_rng(config.random_state)
    rows = rng.choice(len(x), size=min(max_rows, len(x)), replace=False)
    result = permutation_importance(
        model,
        x.iloc[rows],
        y[rows],
        scoring="roc_auc",
        n_repeats=2,
        random_state=config.random_state,
        n_jobs=1,
    )
    ranked = sorted(zip(x.columns, result.importances_mean, strict=True), key=lambda t: -t[1])
    return {name: float(v) for name, v in ranked}
