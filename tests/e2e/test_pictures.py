"""Pictures where people look: the model card in the Prefect UI shows the MLflow charts."""

from __future__ import annotations

import os
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.servers import BIN, ROOT, browse, chromium, mlflow_server, prefect_server

pytestmark = pytest.mark.e2e


def read_artifacts(api_url: str, keys: list[str]) -> dict:
    """{key: latest artifact} through the Prefect API client."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    return {a.key: a for a in found}


def test_model_card_in_the_prefect_ui_shows_the_charts_from_the_mlflow_server(tmp_path):
    if chromium() is None:
        pytest.fail("headless Chromium is missing: apt-get install chromium")
    with prefect_server(tmp_path) as env, mlflow_server(tmp_path, env) as mlflow_url:
        run_env = env | {
            "LIFELINE_HOME": str(tmp_path / "home"),
            "LIFELINE_MLFLOW_TRACKING_URI": mlflow_url,
        }
        done = subprocess.run(
            [str(BIN / "lifeline"), "run", "--customers", "600", "--transactions", "60000"],
            cwd=ROOT,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        artifacts = read_artifacts(env["PREFECT_API_URL"], ["model-card", "drift"])

        images = {}
        for key in ("model-card", "drift"):
            images |= dict(re.findall(r"!\[(\w+)\]\((http[^)]+)\)", artifacts[key].data))
        assert set(images) == {"churn_calibration", "churn_roc_lift", "clv_deciles", "drift_psi"}
        for url in images.values():  # what the browser loads: the PNG, from the MLflow server
            assert url.startswith(mlflow_url)
            with urllib.request.urlopen(url, timeout=30) as reply:
                assert reply.read(8) == b"\x89PNG\r\n\x1a\n"

        shots = Path(os.environ.get("LIFELINE_SCREENSHOT_DIR", tmp_path))
        shots.mkdir(parents=True, exist_ok=True)
        page = env["PREFECT_API_URL"].removesuffix("/api") + "/artifacts/artifact/"
        dom = browse(page + str(artifacts["model-card"].id), shots / "model-card.png")
        assert "Holdout charts" in dom and "Something went wrong" not in dom
        shown = re.findall(r'<img[^>]+src="([^"]+)"', dom)
        assert {u.replace("&amp;", "&") for u in shown} >= {
            images[k] for k in ("churn_calibration", "churn_roc_lift", "clv_deciles")
        }
        assert (shots / "model-card.png").stat().st_size > 50_000
