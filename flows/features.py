"""Flow `features`: point-in-time features and labels, gated, then published."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks.params import (
    DEFAULTS,
    AsOf,
    FeatureParams,
    HorizonDays,
    SpendDropRatio,
    TrainSnapshots,
    describe_params,
)
from tasks.steps import features_step


@flow(name="features", log_prints=True)
@describe_params(FeatureParams)
def features_flow(
    as_of: AsOf = DEFAULTS.as_of,
    horizon_days: HorizonDays = DEFAULTS.horizon_days,
    train_snapshots: TrainSnapshots = DEFAULTS.train_snapshots,
    spend_drop_ratio: SpendDropRatio = DEFAULTS.spend_drop_ratio,
) -> dict[str, Any]:
    """Build FEATURES.CUSTOMER_FEATURES and FEATURES.LABELS for the run's cut-offs."""
    params = FeatureParams(**locals())
    with flow_session("features", params) as run:
        return features_step(run, params, resolve_as_of(run, as_of))
