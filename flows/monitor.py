"""Flow `drift-monitor`: is the scoring population still the one the model was trained on?"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow, get_run_logger
from pydantic import Field

from flows.common import flow_session, resolve_as_of
from tasks.drift import PSI_THRESHOLD
from tasks.runs import RunLog
from tasks.settings import LifelineSettings
from tasks.stages import monitor_drift
from tasks.warehouse import Warehouse


class DriftDetectedError(RuntimeError):
    """Raised (when asked to) so that a Prefect automation can notify on drift."""


def run_drift(
    settings: LifelineSettings,
    wh: Warehouse,
    log: RunLog,
    as_of: dt.date,
    threshold: float,
    fail_on_drift: bool,
) -> dict[str, Any]:
    """Compute and record PSI; warn (or fail) when features drifted."""
    with log.stage("drift"):
        report = monitor_drift(wh, settings, as_of, threshold, log.run_id)
    log.counts |= {"drifted_features": report.drifted}
    if report.drifted:
        message = f"drift at {as_of}: PSI > {threshold} for {', '.join(report.drifted)}"
        get_run_logger().warning(message)
        if fail_on_drift:
            raise DriftDetectedError(message)
    return {"drifted": report.drifted, "psi": report.psi}


@flow(name="drift-monitor", log_prints=True)
def drift_flow(
    as_of: dt.date | None = None,
    threshold: Annotated[float, Field(gt=0)] = PSI_THRESHOLD,
    fail_on_drift: bool = False,
) -> dict[str, Any]:
    """PSI per feature and for the churn score at AS_OF vs the champion's training data."""
    params = {"as_of": as_of, "threshold": threshold, "fail_on_drift": fail_on_drift}
    with flow_session("drift-monitor", params) as (settings, wh, log):
        return run_drift(settings, wh, log, resolve_as_of(wh, as_of), threshold, fail_on_drift)
