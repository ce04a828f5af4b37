"""Failpoints: named places where a test can kill or break a run (LIFELINE_FAILPOINT)."""

from __future__ import annotations

import os
import signal
import time

ENV = "LIFELINE_FAILPOINT"
# Every point on a write path, in run order; the crash harness kills at each of them.
POINTS = (
    "ingest.before_publish",
    "ingest.inside_publish",
    "ingest.after_publish",
    "features.after_staging",
    "features.before_publish",
    "features.inside_publish",
    "features.after_publish",
    "scores.after_staging",
    "scores.before_publish",
    "scores.after_publish",
)


class FailpointError(RuntimeError):
    """Raised at a failpoint armed with the `raise` action."""


def failpoint(name: str) -> None:
    """SIGKILL this process when LIFELINE_FAILPOINT names NAME.

    `NAME:raise` raises instead; `NAME:sleep=S` holds the run there for S seconds (a run
    that is still going when the next one starts, without a race on its natural length).
    """
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, action = spec.partition(":")
    if point != name:
        return
    if action == "raise":
        raise FailpointError(f"failpoint {name} fired")
    if action.startswith("sleep="):
        time.sleep(float(action.removeprefix("sleep=")))
        return
    os.kill(os.getpid(), signal.SIGKILL)
