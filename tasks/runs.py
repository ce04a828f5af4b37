"""Run bookkeeping: flow-run ids, step timings and OPS.PIPELINE_RUNS rows."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tasks import progress
from tasks.artifacts import in_flow_run, publish_table
from tasks.warehouse import Warehouse


def current_run_id() -> str:
    """The Prefect flow-run id, or a fresh id outside a flow run."""
    from prefect.runtime import flow_run

    return str(flow_run.id or f"local-{uuid.uuid4()}")


def deployment_run() -> bool:
    """Whether this flow run was started from a deployment (on a worker), not a CLI call."""
    from prefect.runtime import deployment

    return deployment.id is not None


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """Prefect's run logger inside a flow run, else the `lifeline` logger."""
    if in_flow_run():
        from prefect import get_run_logger

        return get_run_logger()
    return logging.getLogger("lifeline")


@dataclass
class RunLog:
    """Row counts and step timings collected while a flow runs."""

    flow_name: str
    run_id: str
    parameters: dict[str, Any]
    started_at: pd.Timestamp = field(default_factory=lambda: pd.Timestamp.now("UTC"))
    counts: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    gates: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str) -> None:
        """Keep a warning for the summary and log it (to the flow run's log inside one)."""
        self.warnings.append(message)
        run_logger().warning(message)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time one step of the run (and report it as progress)."""
        progress.advance(name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 3)


def record_run(wh: Warehouse, log: RunLog, status: str, error: str | None = None) -> None:
    """MERGE the run's row into OPS.PIPELINE_RUNS (a retried run replaces its row)."""
    frame = pd.DataFrame(
        [
            {
                "FLOW_RUN_ID": log.run_id,
                "FLOW_NAME": log.flow_name,
                "STATUS": status,
                "PARAMETERS": json.dumps(log.parameters, default=str, sort_keys=True),
                "ROW_COUNTS": json.dumps(log.counts, default=str, sort_keys=True),
                "STAGE_SECONDS": json.dumps(log.seconds, sort_keys=True),
                "ERROR": (error or "")[:2000] or None,
                "STARTED_AT": log.started_at.tz_localize(None),
                "FINISHED_AT": pd.Timestamp.now("UTC").tz_localize(None),
            }
        ]
    )
    wh.write_frame(frame, "OPS.PIPELINE_RUNS", "merge", ("FLOW_RUN_ID",))


def publish_run_summary(log: RunLog) -> None:
    """A table artifact: seconds per step and the run's counts."""
    rows = [{"step": k, "seconds": v} for k, v in log.seconds.items()]
    rows += [
        {"step": f"count: {k}", "seconds": None, "value": str(v)} for k, v in log.counts.items()
    ]
    publish_table("run-summary", rows, f"{log.flow_name} run {log.run_id}")
