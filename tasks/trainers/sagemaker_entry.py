"""SageMaker training entry point: train the shared models inside the flow image.

Contract (SageMaker's for any training image): the training set arrives as Parquet in
/opt/ml/input/data/train, hyperparameters as JSON strings in
/opt/ml/input/config/hyperparameters.json, and everything written to /opt/ml/model becomes
model.tar.gz. The SM_* variables override those paths (tests, SageMaker's toolkits).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MODEL_FILE = "lifeline_models.joblib"


def read_hyperparameters() -> dict:
    """Hyperparameters as SageMaker passes them (values arrive JSON-encoded)."""
    raw = os.environ.get("SM_HPS")
    if raw is None:
        path = Path("/opt/ml/input/config/hyperparameters.json")
        raw = path.read_text() if path.exists() else "{}"
    values = json.loads(raw)
    return {
        k: json.loads(v) if isinstance(v, str) and v[:1] in "[{0123456789" else v
        for k, v in values.items()
    }


def main() -> Path:
    """Fit on the training channel and write the models and metrics to SM_MODEL_DIR."""
    import joblib
    import pandas as pd

    from tasks.modeling import ModelConfig, fit_models

    hyper = read_hyperparameters()
    horizon = int(hyper.pop("horizon_days", 90))
    for key in [k for k in hyper if k.startswith("sagemaker_")]:
        hyper.pop(key)
    train_dir = Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    training_set = pd.concat(pd.read_parquet(p) for p in sorted(train_dir.glob("*.parquet")))
    result = fit_models(training_set, ModelConfig(**hyper), horizon)
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(result, model_dir / MODEL_FILE)
    (model_dir / "metrics.json").write_text(json.dumps(result.metrics, indent=2))
    return model_dir / MODEL_FILE


if __name__ == "__main__":
    main()
