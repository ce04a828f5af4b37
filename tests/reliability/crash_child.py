"""One write step of the pipeline in its own process, for the crash harness to kill.

Usage: python -m tests.reliability.crash_child {ingest|features|train|scores} HOME SOURCE
It calls the functions the flow's tasks call, in the flow's order, without importing Prefect
(whose import alone takes seconds per process).
"""

from __future__ import annotations

import datetime as dt
import sys

from tasks import features, ingest, quality, scoring
from tasks.settings import load_settings
from tasks.warehouse import Warehouse, open_warehouse

HORIZON, SNAPSHOTS = 60, 3


def gate(wh: Warehouse, suite: str, table: str, parameters: dict) -> None:
    """Stop (non-zero exit) when a gate fails, like the flow's validate_dataset."""
    if not quality.evaluate_suite(wh, suite, table, parameters).success:
        raise SystemExit(f"gate {suite} failed")


def run_features(wh: Warehouse, settings, run_id: str, as_of) -> None:
    """stage_features -> two gates -> publish_features, as flows/features.py."""
    features.record_snapshots(wh, run_id, features.plan_snapshots(as_of, HORIZON, SNAPSHOTS))
    f_stage = features.stage_features(wh, run_id, as_of, HORIZON)
    l_stage = features.stage_labels(wh, run_id, as_of, HORIZON, 0.3)
    gate(wh, "customer_features", f_stage, {"active_days": HORIZON})
    gate(wh, "training_labels", l_stage, {})
    features.publish_features(wh, f_stage, l_stage)
    features.register_features(wh)
    wh.drop_table(f_stage)
    wh.drop_table(l_stage)


def run_scores(wh: Warehouse, settings, run_id: str, as_of) -> None:
    """stage_scores -> gate -> publish_scores, as flows/score.py."""
    from tasks import registry

    registry.configure_mlflow(settings)
    churn, churn_v = registry.load_champion(registry.CHURN_MODEL)
    clv, clv_v = registry.load_champion(registry.CLV_MODEL)
    staging, _ = scoring.stage_scores(
        wh, as_of, (churn, clv), (churn_v, clv_v), run_id, features.FEATURE_NAMES
    )
    gate(
        wh,
        "customer_scores",
        staging,
        {"eligible_customers": scoring.eligible_customers(wh, as_of)},
    )
    scoring.publish_scores(wh, staging)
    wh.drop_table(staging)


def run_train(wh: Warehouse, settings, run_id: str, as_of) -> None:
    """Train and register champions (set-up for the scores step; not crash-tested)."""
    from tasks import stages

    result, holdout = stages.train_models.fn(wh, run_id, as_of, HORIZON, SNAPSHOTS, "local")
    params = {"as_of": as_of, "horizon_days": HORIZON, "trainer": "local"}
    params |= {"train_snapshots": SNAPSHOTS, "flow_run_id": run_id}
    stages.register_models.fn(settings, result, holdout, params, 0.0)


def run_step(step: str, home: str, source: str) -> None:
    """Open the warehouse as flow_session does (stale staging dropped), run STEP."""
    settings = load_settings(home=home)
    wh = open_warehouse(settings)
    features.drop_stale_staging(wh)
    run_id = f"crash-{step}"
    if step == "ingest":
        ingest.ingest_source(wh, source, {}, run_id, None, "2100-01-01")
    else:
        as_of = wh.scalar("SELECT MAX(txn_ts) FROM raw.transactions").date() + dt.timedelta(1)
        STEPS[step](wh, settings, run_id, as_of)
    wh.close()


STEPS = {"features": run_features, "train": run_train, "scores": run_scores}


if __name__ == "__main__":
    run_step(*sys.argv[1:4])
