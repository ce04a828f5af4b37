"""Flow `features`: point-in-time features and labels, gated, then published."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import flow_session, resolve_as_of
from tasks.runs import RunLog
from tasks.stages import publish_features, stage_features, validate_dataset
from tasks.warehouse import Warehouse


def run_features(
    wh: Warehouse,
    log: RunLog,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    spend_drop_ratio: float,
) -> dict[str, Any]:
    """Stage features and labels for every snapshot, gate both, publish both."""
    with log.stage("features"):
        f_stage, l_stage = stage_features(
            wh, log.run_id, as_of, horizon_days, train_snapshots, spend_drop_ratio
        )
    try:
        with log.stage("quality_features"):
            validate_dataset(
                wh, "customer_features", f_stage, log.run_id, {"active_days": horizon_days}
            )
            validate_dataset(wh, "training_labels", l_stage, log.run_id)
    except BaseException:
        wh.drop_table(f_stage)
        wh.drop_table(l_stage)
        raise
    with log.stage("publish_features"):
        counts = publish_features(wh, f_stage, l_stage)
    log.counts |= {
        "feature_rows": counts["features"],
        "label_rows": counts["labels"],
        "feature_version": counts["feature_version"],
    }
    return log.counts


@flow(name="features", log_prints=True)
def features_flow(
    as_of: dt.date | None = None,
    horizon_days: Annotated[int, Field(ge=7, le=730)] = 90,
    train_snapshots: Annotated[int, Field(ge=1, le=36)] = 6,
    spend_drop_ratio: Annotated[float, Field(ge=0, le=1)] = 0.3,
) -> dict[str, Any]:
    """Build FEATURES.CUSTOMER_FEATURES and FEATURES.LABELS for the run's snapshots."""
    params = dict(
        as_of=as_of,
        horizon_days=horizon_days,
        train_snapshots=train_snapshots,
        spend_drop_ratio=spend_drop_ratio,
    )
    with flow_session("features", params) as (_, wh, log):
        cut_off = resolve_as_of(wh, as_of)
        log.parameters["as_of"] = cut_off
        return run_features(wh, log, cut_off, horizon_days, train_snapshots, spend_drop_ratio)
