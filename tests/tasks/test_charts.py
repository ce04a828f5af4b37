"""Charts: real PNGs of the holdout, logged to MLflow and linked or inlined for Prefect."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from matplotlib.image import imread
from mlflow import MlflowClient

from tasks import charts, registry
from tasks.modeling import ModelConfig, fit_models, served_predictions
from tasks.settings import load_settings
from tests.tasks.test_modeling import training_set

PNG = b"\x89PNG\r\n\x1a\n"


def image_shape(png: bytes) -> tuple[int, ...]:
    """Height, width, channels of a PNG (decoding proves it is a whole image)."""
    return imread(io.BytesIO(png), format="png").shape


def test_training_charts_draw_the_served_model_and_its_baselines():
    data = training_set(1500)
    data["BGNBD_P_NO_PURCHASE"] = np.clip(data["RECENCY_DAYS"] / 40, 0, 1)
    result = fit_models(data, ModelConfig(max_iter=40), 90)
    holdout = data[data["ROLE"] == "holdout"]
    result.served |= {"churn": "booster", "clv": "booster"}  # drawn as "boosting" below

    served = served_predictions(result, holdout)
    series = charts.churn_series(result, holdout, "boosting", served["churn"])
    drawn = charts.training_charts(
        result, holdout, {"churn": "boosting", "clv": "boosting"}, served
    )

    assert list(series) == ["served: boosting", "BG/NBD"]  # Pareto/NBD absent from the data
    # a served baseline is drawn once, as the served model
    data["BGNBD_EXPECTED_VALUE"] = data["SPEND_90"]
    result.served |= {"churn": "bgnbd", "clv": "bgnbd_gg"}
    assert list(charts.churn_series(result, holdout, "BG/NBD", served["churn"])) == [
        "served: BG/NBD"
    ]
    holdout = data[data["ROLE"] == "holdout"]
    assert list(charts.clv_series(result, holdout, "BG/NBD x Gamma-Gamma", served["clv"])) == [
        "served: BG/NBD x Gamma-Gamma"
    ]
    assert set(drawn) == {
        "charts/churn_calibration.png",
        "charts/churn_roc_lift.png",
        "charts/clv_deciles.png",
    }
    for png in drawn.values():
        height, width, _ = image_shape(png)
        assert png.startswith(PNG) and height > 200 and width > 300


def test_lift_of_a_perfect_ranking_puts_every_churner_in_the_top_deciles():
    y = np.array([1] * 20 + [0] * 80)
    lift = charts.decile_lift(y, score=y.astype(float))
    assert np.allclose(lift[:2], 5.0) and np.allclose(lift[2:], 0.0)


def test_one_class_holdout_draws_only_the_value_chart():
    data = training_set(1500)
    result = fit_models(data, ModelConfig(max_iter=40), 90)
    holdout = data[data["ROLE"] == "holdout"].assign(CHURNED=0)
    served = served_predictions(result, holdout)
    drawn = charts.training_charts(
        result, holdout, {"churn": "boosting", "clv": "boosting"}, served
    )
    assert list(drawn) == ["charts/clv_deciles.png"]


def test_psi_chart_and_urls_for_a_server_and_for_a_local_store():
    png = charts.psi_chart({"RECENCY_DAYS": 0.4, "SPEND_90": 0.05}, threshold=0.2)
    assert image_shape(png)[0] > 100

    served = charts.chart_url("http://mlflow:5000/", "abc", "charts/drift_psi.png", png)
    assert served == "http://mlflow:5000/get-artifact?path=charts/drift_psi.png&run_uuid=abc"
    inline = charts.chart_url("sqlite:///x/mlflow.db", "abc", "charts/drift_psi.png", png)
    assert base64.b64decode(inline.removeprefix("data:image/png;base64,")) == png

    markdown = charts.charts_markdown({"charts/drift_psi.png": png}, "http://m:5000", "abc")
    assert "![drift_psi](http://m:5000/get-artifact?path=charts/drift_psi.png" in markdown
    assert "MLflow run `abc`, artifact `charts/drift_psi.png`" in markdown


def test_training_run_logs_its_charts_to_mlflow(tmp_path):
    client = registry.configure_mlflow(load_settings(home=tmp_path))
    data = training_set(1500)
    result = fit_models(data, ModelConfig(max_iter=40), 90)
    holdout = data[data["ROLE"] == "holdout"]
    _, run_id, drawn = registry.log_training_run(
        result, {"as_of": "2025-06-01"}, holdout, served_predictions(result, holdout)
    )
    logged = {f.path for f in MlflowClient().list_artifacts(run_id, "charts")}
    assert logged == set(drawn)
    local = client.download_artifacts(run_id, "charts/churn_calibration.png", str(tmp_path))
    assert Path(local).read_bytes() == drawn["charts/churn_calibration.png"]
