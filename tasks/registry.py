"""MLflow tracking, registration and champion/challenger promotion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.artifacts import publish_markdown
from tasks.modeling import TrainResult, churn_metrics, clv_metrics, matrix

if TYPE_CHECKING:
    from tasks.settings import LifelineSettings

CHURN_MODEL = "lifeline-churn"
CLV_MODEL = "lifeline-clv"
EXPERIMENT = "lifeline"
# Our own models, saved by this code: skops must be told these sklearn internals are expected.
SKOPS_TRUSTED_TYPES = [
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn.isotonic.IsotonicRegression",
]


def configure_mlflow(settings: LifelineSettings) -> Any:
    """Point MLflow at the configured tracking URI; return a client."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(settings.tracking_uri)
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None if settings.mlflow_tracking_uri else settings.artifact_root.as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return MlflowClient()


def pip_requirements() -> list[str]:
    """Pinned requirements recorded with each model (skips MLflow's slow inference)."""
    import sklearn

    return [
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
    ]


def log_training_run(
    result: TrainResult, params: dict[str, Any], holdout: pd.DataFrame
) -> dict[str, str]:
    """Log params, metrics, importances and both models; return {model name: version}."""
    import mlflow
    from mlflow.models import infer_signature

    sample = matrix(holdout.head(200), result.features)
    with mlflow.start_run(run_name=f"train-{params.get('as_of')}"):
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if math.isfinite(v)})
        mlflow.log_dict(result.importances, "feature_importances.json")
        versions = {}
        for name, model, output in (
            (CHURN_MODEL, result.churn_model, result.churn_model.predict_proba(sample)[:, 1]),
            (CLV_MODEL, result.clv_model, result.clv_model.predict(sample)),
        ):
            info = mlflow.sklearn.log_model(
                model,
                name=name.replace("lifeline-", ""),
                signature=infer_signature(sample, output),
                registered_model_name=name,
                pip_requirements=pip_requirements(),
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
            )
            versions[name] = str(info.registered_model_version)
    return versions


def champion(client: Any, name: str) -> Any | None:
    """The model version holding the champion alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None


def holdout_score(name: str, model: Any, holdout: pd.DataFrame, features: tuple[str, ...]) -> float:
    """The promotion metric on the holdout: ROC AUC for churn, MAE for CLV."""
    x = matrix(holdout, features)
    if name == CHURN_MODEL:
        return churn_metrics(holdout["CHURNED"].to_numpy(int), model.predict_proba(x)[:, 1])[
            "roc_auc"
        ]
    return clv_metrics(holdout["FUTURE_VALUE"].to_numpy(float), model.predict(x))["mae"]


def beats(name: str, challenger: float, incumbent: float, margin: float) -> bool:
    """Higher AUC wins for churn, lower MAE (relative margin) for CLV; ties keep the champion.

    Differences below 1e-9 are ties: parallel float sums make a retrain on the same data
    differ from its champion in the last bits.
    """
    tie = 1e-9
    if name == CHURN_MODEL:
        return challenger > incumbent + margin + tie
    return challenger < incumbent * (1 - margin) - tie * abs(incumbent)


def promote(
    client: Any,
    name: str,
    version: str,
    model: Any,
    holdout: pd.DataFrame,
    features: tuple[str, ...],
    margin: float,
) -> dict[str, Any]:
    """Alias the new version challenger; make it champion only if it wins on this holdout."""
    import mlflow

    client.set_registered_model_alias(name, "challenger", version)
    score = holdout_score(name, model, holdout, features)
    current = champion(client, name)
    decision: dict[str, Any] = {
        "model": name,
        "version": version,
        "score": score,
        "champion_version": None,
        "champion_score": None,
    }
    if current is None:
        decision |= {"promoted": True, "reason": "first model"}
    else:
        incumbent = mlflow.sklearn.load_model(f"models:/{name}@champion")
        try:
            champ_score = holdout_score(name, incumbent, holdout, features)
        except (KeyError, ValueError) as exc:  # champion built on other features
            champ_score, reason = float("nan"), f"champion cannot score this holdout: {exc}"
            won = True
        else:
            won = beats(name, score, champ_score, margin)
            reason = "beats champion" if won else "does not beat champion"
        decision |= {
            "promoted": won,
            "reason": reason,
            "champion_version": str(current.version),
            "champion_score": champ_score,
        }
    if decision["promoted"]:
        client.set_registered_model_alias(name, "champion", version)
    for key in ("promoted", "reason", "score", "champion_score"):
        client.set_model_version_tag(name, version, f"promotion.{key}", str(decision[key]))
    return decision


class ModelLoadError(RuntimeError):
    """The champion's artifact is missing or corrupt."""


def load_champion(name: str) -> tuple[Any, str]:
    """Load the champion model and its version; a clear error if none is registered."""
    import mlflow
    from mlflow import MlflowClient

    current = champion(MlflowClient(), name)
    if current is None:
        raise RuntimeError(f"no champion registered for {name}: run `lifeline train` first")
    try:
        model = mlflow.sklearn.load_model(f"models:/{name}@champion")
    except Exception as exc:  # noqa: BLE001 - any unreadable artifact is the same failure
        raise ModelLoadError(
            f"champion {name} v{current.version} cannot be loaded, nothing was scored "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    return model, str(current.version)


def champion_training_params(name: str) -> dict[str, str]:
    """The parameters logged with the run that trained the current champion."""
    from mlflow import MlflowClient

    client = MlflowClient()
    current = champion(client, name)
    if current is None:
        raise RuntimeError(f"no champion registered for {name}: run `lifeline train` first")
    return dict(client.get_run(current.run_id).data.params)


def register_models(
    settings: LifelineSettings,
    result: TrainResult,
    holdout: pd.DataFrame,
    params: dict[str, Any],
    margin: float,
) -> list[dict]:
    """Log to MLflow, register both models, apply the promotion policy, publish the card."""
    client = configure_mlflow(settings)
    versions = log_training_run(result, params, holdout)
    decisions = [
        promote(client, name, versions[name], model, holdout, result.features, margin)
        for name, model in ((CHURN_MODEL, result.churn_model), (CLV_MODEL, result.clv_model))
    ]
    publish_markdown("model-card", model_card(params, result, decisions))
    return decisions


def model_card(params: dict, result: TrainResult, decisions: list[dict]) -> str:
    """Markdown model card: data window, metrics vs baseline vs champion, top features."""
    m = result.metrics
    rows = [
        ("churn ROC AUC", "churn_roc_auc"),
        ("churn PR AUC", "churn_pr_auc"),
        ("churn Brier", "churn_brier"),
        ("churn ECE", "churn_ece"),
        ("churn top-decile lift", "churn_top_decile_lift"),
        ("CLV MAE", "clv_mae"),
        ("CLV RMSE", "clv_rmse"),
        ("CLV Spearman", "clv_spearman"),
        ("CLV normalised Gini", "clv_normalized_gini"),
    ]
    lines = [
        f"### Lifeline models as of {params.get('as_of')} (trainer {params.get('trainer')})",
        f"Rows: {result.rows}",
        "",
        "| metric | model | baseline |",
        "|---|---|---|",
    ]
    for label, key in rows:
        base = m.get(key.replace("churn_", "churn_baseline_").replace("clv_", "clv_baseline_"))
        lines.append(f"| {label} | {m[key]:.4f} | {base:.4f} |")
    lines += [
        "",
        "| model | version | holdout score | champion | champion score | promoted |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {d['model']} | {d['version']} | {d['score']:.4f} | {d['champion_version']} | "
        f"{d['champion_score']} | {d['promoted']} ({d['reason']}) |"
        for d in decisions
    ]
    lines += ["", "Top features (permutation importance, ROC AUC drop):"]
    lines += [f"- {k}: {v:.4f}" for k, v in list(result.importances.items())[:10]]
    return "\n".join(lines)
