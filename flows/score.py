"""Flow `score`: champion models score the customers; gated, then merged."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks.params import DEFAULTS, AsOf, ScoreParams, describe_params
from tasks.steps import score_step


@flow(name="score", log_prints=True)
@describe_params(ScoreParams)
def score_flow(as_of: AsOf = DEFAULTS.as_of) -> dict[str, Any]:
    """Score the customers with features at AS_OF (default: the latest cut-off)."""
    params = ScoreParams(**locals())
    with flow_session("score", params) as run:
        return score_step(run, resolve_as_of(run, as_of))
