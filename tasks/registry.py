"""MLflow tracking, registration and champion/challenger promotion."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tasks.artifacts import publish_markdown
from tasks.charts import charts_markdown, log_charts, training_charts
from tasks.modeling import (
    TrainResult,
    churn_metrics,
    clv_metrics,
    matrix,
    model_features,
    predict_churn,
    predict_clv,
    served_predictions,
)

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
    "tasks.modeling.MedianImputer",
    "numpy.dtype",  # logistic baselines registered before MedianImputer keep a SimpleImputer
    "tasks.modeling.ColumnClassifier",
    "tasks.modeling.ColumnRegressor",
    "tasks.modeling.BlendClassifier",
    "tasks.modeling.BlendRegressor",
]
CHURN_CANDIDATES = {
    "booster": "gradient boosting (calibrated)",
    "logistic": "logistic regression",
    "bgnbd": "BG/NBD",
    "pnbd": "Pareto/NBD",
    "recency": "recency",
    "blend_logistic": "mean of boosting and logistic",
    "blend_bgnbd": "mean of boosting and BG/NBD",
    "blend_pnbd": "mean of boosting and Pareto/NBD",
    "blend_recency": "mean of boosting and recency",
}
CLV_CANDIDATES = {
    "booster": "gradient boosting (Poisson)",
    "bgnbd_gg": "BG/NBD x Gamma-Gamma",
    "pnbd_gg": "Pareto/NBD x Gamma-Gamma",
    "trailing_spend": "trailing 90-day spend",
    "blend_bgnbd_gg": "mean of boosting and BG/NBD x GG",
    "blend_pnbd_gg": "mean of boosting and Pareto/NBD x GG",
    "blend_trailing_spend": "mean of boosting and trailing spend",
}


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


def served_labels(result: TrainResult) -> dict[str, str]:
    """{task: the served candidate's readable name}."""
    return {
        task: candidate_names(result, task)[result.served.get(task, "booster")]
        for task in ("churn", "clv")
    }


def log_training_run(
    result: TrainResult,
    params: dict[str, Any],
    holdout: pd.DataFrame,
    predicted: dict[str, np.ndarray],
) -> tuple[dict[str, str], str, dict[str, bytes]]:
    """Log params, metrics, importances, charts (from the holdout PREDICTED) and both models.

    Returns ({model name: version}, the MLflow run id, {chart artifact path: PNG}).
    """
    import mlflow
    from mlflow.models import infer_signature

    sample = holdout.head(200)
    logged = params | {f"served_{k}": v for k, v in result.served.items()}
    charts = training_charts(result, holdout, served_labels(result), predicted)
    run_name = f"train-{params.get('as_of')}"
    with mlflow.start_run(run_name=run_name, tags={"lifeline.kind": "train"}) as run:
        mlflow.log_params({k: str(v) for k, v in logged.items()})
        mlflow.log_metrics({k: v for k, v in result.metrics.items() if math.isfinite(v)})
        mlflow.log_dict(result.importances, "feature_importances.json")
        mlflow.log_dict({"features": list(result.features)}, "features.json")
        log_charts(charts)
        versions = {}
        for name, model, output in (
            (CHURN_MODEL, result.churn_model, predict_churn(result.churn_model, sample)),
            (CLV_MODEL, result.clv_model, predict_clv(result.clv_model, sample)),
        ):
            info = mlflow.sklearn.log_model(
                model,
                name=name.replace("lifeline-", ""),
                signature=infer_signature(matrix(sample, model_features(model)), output),
                registered_model_name=name,
                pip_requirements=pip_requirements(),
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
            )
            versions[name] = str(info.registered_model_version)
    return versions, run.info.run_id, charts


def champion(client: Any, name: str) -> Any | None:
    """The model version holding the champion alias, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, "champion")
    except MlflowException:
        return None


def holdout_score(name: str, model: Any, holdout: pd.DataFrame) -> float:
    """The promotion metric of MODEL on the holdout."""
    predict = predict_churn if name == CHURN_MODEL else predict_clv
    return holdout_metric(name, predict(model, holdout), holdout)


def holdout_metric(name: str, predicted: np.ndarray, holdout: pd.DataFrame) -> float:
    """The promotion metric of PREDICTED on the holdout: ROC AUC for churn, RMSE for CLV."""
    if name == CHURN_MODEL:
        return churn_metrics(holdout["CHURNED"].to_numpy(int), predicted)["roc_auc"]
    return clv_metrics(holdout["FUTURE_VALUE"].to_numpy(float), predicted)["rmse"]


def beats(name: str, challenger: float, incumbent: float, margin: float) -> bool:
    """Higher AUC wins for churn, lower RMSE (relative margin) for CLV; ties keep the champion.

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
    score: float,
    holdout: pd.DataFrame,
    margin: float,
) -> dict[str, Any]:
    """Alias the new version challenger; champion only if its SCORE beats the champion's here."""
    import mlflow

    client.set_registered_model_alias(name, "challenger", version)
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
            champ_score = holdout_score(name, incumbent, holdout)
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


def model_importances(name: str, version: str) -> dict[str, float]:
    """A registered model's feature importances on its holdout, as logged with its run.

    Empty when none were logged (reason codes then try every feature).
    """
    import mlflow
    from mlflow import MlflowClient

    run_id = MlflowClient().get_model_version(name, version).run_id
    if not run_id:
        return {}
    try:
        found = mlflow.artifacts.load_dict(f"runs:/{run_id}/feature_importances.json")
    except Exception:  # noqa: BLE001 - a missing or unreadable artifact means "unknown"
        return {}
    return {str(k): float(v) for k, v in found.items()}


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
    # The served models predict the holdout once here, for the charts and the promotion.
    predicted = served_predictions(result, holdout)
    versions, run_id, charts = log_training_run(result, params, holdout, predicted)
    decisions = [
        promote(
            client,
            name,
            versions[name],
            holdout_metric(name, predicted[task], holdout),
            holdout,
            margin,
        )
        for name, task in ((CHURN_MODEL, "churn"), (CLV_MODEL, "clv"))
    ]
    card = model_card(params, result, decisions)
    pictures = charts_markdown(charts, settings.tracking_uri, run_id)
    publish_markdown("model-card", f"{card}\n\n#### Holdout charts\n\n{pictures}")
    return decisions


def candidate_rows(result: TrainResult) -> list[tuple[str, str, dict[str, float], bool]]:
    """(task, candidate label, its holdout metrics, served?) for every candidate fitted."""
    rows = []
    for task in ("churn", "clv"):
        for key, label in candidate_names(result, task).items():
            prefix = f"{task}_{key}_"
            found = {k[len(prefix) :]: v for k, v in result.metrics.items() if k.startswith(prefix)}
            if found:
                rows.append((task, label, found, result.served.get(task) == key))
    return rows


def candidate_names(result: TrainResult, task: str) -> dict[str, str]:
    """TASK's candidates' names; a CLV booster with no spend to learn from is a constant."""
    if task == "churn":
        return CHURN_CANDIDATES
    zero = result.served.get("clv_booster") == "constant"
    return CLV_CANDIDATES | ({"booster": "the constant 0 (no spend to learn)"} if zero else {})


def serving_reason(result: TrainResult, task: str) -> str:
    """One line: which candidate serves TASK and by how much it beat the best other one."""
    names = candidate_names(result, task)
    served = result.served.get(task, "booster")
    metric = "roc_auc" if task == "churn" else "rmse"
    others = {
        k: result.metrics.get(f"{task}_{k}_{metric}")
        for k in names
        if k != served and f"{task}_{k}_{metric}" in result.metrics
    }
    finite = {k: v for k, v in others.items() if v is not None and math.isfinite(v)}
    own = result.metrics.get(f"{task}_{served}_{metric}", float("nan"))
    label = "ROC AUC" if task == "churn" else "RMSE"
    if not finite:
        return f"{names[served]} serves (holdout {label} {own:.4f}; nothing to compare)"
    best = (max if task == "churn" else min)(finite, key=finite.get)
    return (
        f"{names[served]} serves: best holdout {label} {own:.4f}, next {names[best]} "
        f"{finite[best]:.4f}"
    )


def model_card(params: dict, result: TrainResult, decisions: list[dict]) -> str:
    """Markdown model card: every candidate on the holdout, the served ones, the registry."""
    rows = result.rows
    sampled = (
        f" (whole customers sampled from {rows['train_available']:,}: training is capped at "
        f"about {rows['train_cap']:,} rows)"
        if "train_available" in rows
        else ""
    )
    lines = [
        f"### Lifeline models as of {params.get('as_of')} (trainer {params.get('trainer')})",
        f"Rows: {rows.get('train', 0):,} training{sampled}, {rows.get('holdout', 0):,} "
        f"holdout; features used: {len(result.features)}",
        "",
        f"- churn: {serving_reason(result, 'churn')}",
        f"- CLV: {serving_reason(result, 'clv')}",
        "",
        "| churn model | ROC AUC | PR AUC | Brier | ECE | top-decile lift | served |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, label, m, served in candidate_rows(result):
        if task == "churn":
            lines.append(
                f"| {label} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['brier']:.4f} | "
                f"{m['ece']:.4f} | {m['top_decile_lift']:.2f} | {'yes' if served else ''} |"
            )
    lines += [
        "",
        "| CLV model | RMSE | MAE | Spearman | normalised Gini | predicted / actual total "
        "| served |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, label, m, served in candidate_rows(result):
        if task == "clv":
            ratio = m["total_predicted"] / m["total_actual"] if m["total_actual"] else math.nan
            lines.append(
                f"| {label} | {m['rmse']:.2f} | {m['mae']:.2f} | {m['spearman']:.4f} | "
                f"{m['normalized_gini']:.4f} | {ratio:.3f} | {'yes' if served else ''} |"
            )
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
