"""The training code SageMaker and Snowpark run imports and trains without the warehouse.

Each runs as its runtime would (the Snowpark bundle unpacked; the SageMaker job's container
command) in a subprocess where `duckdb` and `sqlglot` cannot be imported (a meta-path hook
refuses them), so an accidental import of the warehouse (e.g. model code reaching
tasks.features) fails here first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tasks.trainers.sagemaker import ENTRYPOINT
from tasks.trainers.snowpark import package_tasks
from tests.tasks.test_modeling import training_set

ROOT = Path(__file__).resolve().parents[3]
BLOCKER = """
import sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("duckdb", "sqlglot"):
            raise ImportError(f"{name} is not available in this runtime")

sys.meta_path.insert(0, Refuse())
"""


def without_warehouse(tmp_path: Path, *pythonpath: Path) -> dict[str, str]:
    """An environment whose interpreter refuses duckdb and sqlglot; PYTHONPATH first."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(str(p) for p in (blocker, *pythonpath))
    return {k: v for k, v in os.environ.items() if not k.startswith("LIFELINE_")} | {
        "PYTHONPATH": path
    }


def test_sagemaker_entry_point_trains_without_duckdb_or_sqlglot(tmp_path):
    train, model = tmp_path / "train", tmp_path / "model"
    train.mkdir()
    training_set(600).to_parquet(train / "training_set.parquet", index=False)
    env = without_warehouse(tmp_path, ROOT) | {
        "SM_CHANNEL_TRAIN": str(train),
        "SM_MODEL_DIR": str(model),
        "SM_HPS": json.dumps({"max_iter": 30}),
    }
    assert ENTRYPOINT[0] == "python"
    command = [sys.executable, *ENTRYPOINT[1:]]  # the job's command, in this interpreter
    subprocess.run(command, cwd=tmp_path, env=env, check=True, timeout=300)
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["churn_roc_auc"] > 0.7


PROCEDURE_PROBE = """
import json, sys
from snowflake.snowpark import Session
from tasks.trainers.snowpark import train_procedure
import pandas as pd

session = Session.builder.config("local_testing", True).create()
session.create_dataframe(pd.read_parquet(sys.argv[1])).write.save_as_table("ML.TRAINING_SET")
reply = json.loads(train_procedure(
    session, "ML.TRAINING_SET", json.dumps({"max_iter": 30}), 90, "@ML.M/probe"
))
import tasks.trainers.snowpark as module
assert module.__file__.startswith(sys.argv[2]), module.__file__
assert "duckdb" not in sys.modules and "sqlglot" not in sys.modules
print(json.dumps(reply["metrics"]))
"""


def test_snowpark_procedure_zip_trains_without_duckdb_or_sqlglot(tmp_path):
    archive = package_tasks(tmp_path)
    data = tmp_path / "training_set.parquet"
    training_set(600).to_parquet(data, index=False)
    out = subprocess.run(
        [sys.executable, "-c", PROCEDURE_PROBE, str(data), str(archive)],
        cwd=tmp_path,
        env=without_warehouse(tmp_path, archive),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["churn_roc_auc"] > 0.7
