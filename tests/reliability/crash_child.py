"""One write step of the pipeline in its own process, for the crash harness to kill.

Usage: python -m tests.reliability.crash_child {ingest|features|train|scores} HOME SOURCE
It runs the flows' own session and steps (tasks.steps) with the plain units, without
importing Prefect (whose import alone takes seconds per process).
"""

from __future__ import annotations

import sys

from tasks import steps
from tasks.params import PipelineParams
from tasks.settings import load_settings

# Small windows keep each child fast; the same-tables test runs the flows with these too.
PARAMS = {"horizon_days": 60, "train_snapshots": 3}


def run_step(step: str, home: str, source: str) -> None:
    """Open a run session as the flows do (lock, stale staging dropped), run STEP."""
    settings = load_settings(home=home)
    params = PipelineParams(source=source, **PARAMS)
    with steps.run_session(f"crash-{step}", params, f"crash-{step}", settings, steps.PLAIN) as run:
        if step == "ingest":
            steps.ingest_step(run, params)
            return
        as_of = steps.resolve_as_of(run, params.as_of)
        if step == "features":
            steps.features_step(run, params, as_of)
        elif step == "train":
            steps.train_step(run, params, as_of)
        else:
            steps.score_step(run, as_of)


if __name__ == "__main__":
    run_step(*sys.argv[1:4])
