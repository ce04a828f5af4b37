"""Charts where people look: calibration, ROC and lift, CLV by decile, PSI per feature.

Each chart is PNG bytes, logged to the MLflow run it describes and shown in the Prefect
artifact (linked through the MLflow server when there is one, inlined otherwise, since a
browser cannot read a local sqlite/file store).
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score, roc_curve

from tasks.modeling import TrainResult, has_values

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHART_DIR = "charts"
# Textbook models drawn beside the served one when the log has them: candidate key (as in
# TrainResult.served) -> (legend, holdout column).
CHURN_BASELINES = {
    "bgnbd": ("BG/NBD", "BGNBD_P_NO_PURCHASE"),
    "pnbd": ("Pareto/NBD", "PNBD_P_NO_PURCHASE"),
}
CLV_BASELINES = {
    "bgnbd_gg": ("BG/NBD x GG", "BGNBD_EXPECTED_VALUE"),
    "pnbd_gg": ("Pareto/NBD x GG", "PNBD_EXPECTED_VALUE"),
}


def new_figure(width: float, height: float) -> Figure:
    """A matplotlib figure, imported on first use (matplotlib builds a font cache on import)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def png_bytes(fig: Figure) -> bytes:
    """The figure as a PNG (no pyplot: no global state, no display backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def churn_series(
    result: TrainResult, holdout: pd.DataFrame, label: str, served: np.ndarray
) -> dict[str, np.ndarray]:
    """P(churn) on the holdout: the served model's (SERVED) and each textbook baseline present."""
    series = {f"served: {label}": served}
    for key, (name, column) in CHURN_BASELINES.items():
        if has_values(holdout, column) and key != result.served.get("churn"):
            values = holdout[column].to_numpy(float)
            series[name] = np.clip(np.where(np.isnan(values), np.nanmean(values), values), 0, 1)
    return series


def clv_series(
    result: TrainResult, holdout: pd.DataFrame, label: str, served: np.ndarray
) -> dict[str, np.ndarray]:
    """Predicted value on the holdout: the served model's (SERVED) and each baseline present."""
    series = {f"served: {label}": served}
    for key, (name, column) in CLV_BASELINES.items():
        if has_values(holdout, column) and key != result.served.get("clv"):
            series[name] = np.nan_to_num(holdout[column].to_numpy(float))
    return series


def calibration_chart(y: np.ndarray, series: dict[str, np.ndarray]) -> bytes:
    """Reliability diagram: observed churn rate against predicted probability, per decile."""
    fig = new_figure(5.5, 4.5)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    for name, p in series.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", linewidth=1.5, label=name)
    ax.set(xlabel="predicted P(churn)", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
    ax.set_title("Churn calibration on the holdout (deciles)")
    ax.legend(loc="upper left", fontsize=8)
    return png_bytes(fig)


def decile_lift(y: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Churn rate in each score decile (riskiest first) over the overall rate."""
    order = np.argsort(-score, kind="stable")
    rates = np.array([chunk.mean() for chunk in np.array_split(y[order], 10)])
    return rates / max(y.mean(), 1e-9)


def roc_lift_chart(y: np.ndarray, series: dict[str, np.ndarray]) -> bytes:
    """ROC curves and lift per decile for the served model and its baselines."""
    fig = new_figure(11, 4.5)
    roc, lift = fig.subplots(1, 2)
    roc.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    width = 0.8 / len(series)
    for i, (name, p) in enumerate(series.items()):
        fpr, tpr, _ = roc_curve(y, p)
        roc.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
        lift.bar(np.arange(1, 11) + (i - (len(series) - 1) / 2) * width, decile_lift(y, p), width)
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (holdout)")
    roc.legend(loc="lower right", fontsize=8)
    lift.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    lift.set(xlabel="score decile (1 = riskiest)", ylabel="lift over the churn rate")
    lift.set_title("Lift by decile")
    lift.set_xticks(range(1, 11))
    return png_bytes(fig)


def clv_decile_chart(actual: np.ndarray, predicted: dict[str, np.ndarray]) -> bytes:
    """Mean predicted and actual value per decile of each model's own prediction."""
    fig = new_figure(6.5, 4.5)
    ax = fig.subplots()
    deciles = np.arange(1, 11)
    for i, (name, values) in enumerate(predicted.items()):
        order = np.argsort(-values, kind="stable")
        pred = [chunk.mean() for chunk in np.array_split(values[order], 10)]
        real = [chunk.mean() for chunk in np.array_split(actual[order], 10)]
        if i == 0:  # the served model as bars, baselines as lines
            ax.bar(deciles - 0.2, pred, 0.4, label=f"{name}: predicted")
            ax.bar(deciles + 0.2, real, 0.4, label=f"{name}: actual")
        else:
            ax.plot(deciles, real, "o-", color=f"C{i + 1}", label=f"actual, deciles of {name}")
    ax.set(xlabel="predicted value decile (1 = highest)", ylabel="mean value in the horizon")
    ax.set_title("CLV predicted vs actual by decile (holdout)")
    ax.set_xticks(deciles)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def psi_chart(psi: dict[str, float], threshold: float) -> bytes:
    """Horizontal bars of PSI per feature, worst on top, with the alert threshold."""
    names = sorted(psi, key=psi.get)
    fig = new_figure(6.5, max(2.5, 0.28 * len(names) + 1))
    ax = fig.subplots()
    colors = ["#d62728" if psi[n] > threshold else "#1f77b4" for n in names]
    ax.barh(names, [psi[n] for n in names], color=colors)
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    ax.set(xlabel="population stability index", title="Drift per feature")
    ax.tick_params(axis="y", labelsize=8)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def training_charts(
    result: TrainResult,
    holdout: pd.DataFrame,
    labels: dict,
    predicted: dict[str, np.ndarray],
) -> dict[str, bytes]:
    """{artifact path: PNG} for a training run, from the served models' holdout PREDICTED."""
    y = holdout["CHURNED"].to_numpy(int)
    series = churn_series(result, holdout, labels["churn"], predicted["churn"])
    actual = np.clip(holdout["FUTURE_VALUE"].to_numpy(float), 0, None)
    values = clv_series(result, holdout, labels["clv"], predicted["clv"])
    charts = {f"{CHART_DIR}/clv_deciles.png": clv_decile_chart(actual, values)}
    if len(np.unique(y)) == 2:  # a one-class holdout has no ROC or calibration to draw
        charts[f"{CHART_DIR}/churn_calibration.png"] = calibration_chart(y, series)
        charts[f"{CHART_DIR}/churn_roc_lift.png"] = roc_lift_chart(y, series)
    return dict(sorted(charts.items()))


def log_charts(charts: dict[str, bytes]) -> None:
    """Log each chart to the active MLflow run at its artifact path."""
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        for path, png in charts.items():
            file = Path(tmp) / path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(png)
            mlflow.log_artifact(str(file), str(Path(path).parent))


def chart_url(tracking_uri: str, run_id: str, path: str, png: bytes) -> str:
    """Where a browser can load the chart: the MLflow server, or the PNG inline."""
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/get-artifact?path={path}&run_uuid={run_id}"
    return "data:image/png;base64," + base64.b64encode(png).decode()


def charts_markdown(charts: dict[str, bytes], tracking_uri: str, run_id: str) -> str:
    """Markdown images of CHARTS, each captioned with its MLflow run and artifact path."""
    lines = []
    for path, png in charts.items():
        lines += [
            f"![{Path(path).stem}]({chart_url(tracking_uri, run_id, path, png)})",
            f"*MLflow run `{run_id}`, artifact `{path}`*",
            "",
        ]
    return "\n".join(lines)
