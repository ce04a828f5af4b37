"""Flow `drift-monitor`: is the scoring population still the one the model was trained on?"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks.params import DEFAULTS, AsOf, DriftParams, DriftThreshold, FailOnDrift, describe_params
from tasks.steps import drift_step, realised_step


@flow(name="drift-monitor", log_prints=True)
@describe_params(DriftParams)
def drift_flow(
    as_of: AsOf = DEFAULTS.as_of,
    drift_threshold: DriftThreshold = DEFAULTS.drift_threshold,
    fail_on_drift: FailOnDrift = DEFAULTS.fail_on_drift,
) -> dict[str, Any]:
    """Judge past scores on what happened, then PSI at AS_OF vs the champion's training data."""
    params = DriftParams(**locals())
    with flow_session("drift-monitor", params) as run:
        cutoff = resolve_as_of(run, as_of)
        realised = realised_step(run)
        return drift_step(run, params, cutoff) | {"realised": realised}
