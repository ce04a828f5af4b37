"""Failpoints: named places where a test can kill or break a run (LIFELINE_FAILPOINT)."""

from __future__ import annotations

import os
import signal

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
    """SIGKILL this process (or raise, with `NAME:raise`) when LIFELINE_FAILPOINT names NAME."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    point, _, action = spec.partition(":")
    if point != name:
        return
    if action == "raise":
        raise FailpointError(f"failpoint {name} fired")
    os.kill(os.getpid(), signal.SIGKILL)
