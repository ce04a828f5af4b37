"""Flow `score`: champion models score the active customers; gated, then merged."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow

from flows.common import flow_session, resolve_as_of
from tasks import scoring
from tasks.runs import RunLog
from tasks.settings import LifelineSettings
from tasks.stages import publish_scores, stage_scores, validate_dataset
from tasks.warehouse import Warehouse


def run_score(
    settings: LifelineSettings, wh: Warehouse, log: RunLog, as_of: dt.date
) -> dict[str, Any]:
    """Stage scores for AS_OF, gate them, MERGE them into ML.CUSTOMER_SCORES."""
    with log.stage("score"):
        staging, rows = stage_scores(wh, settings, as_of, log.run_id)
    try:
        with log.stage("quality_scores"):
            validate_dataset(
                wh,
                "customer_scores",
                staging,
                log.run_id,
                {"eligible_customers": scoring.eligible_customers(wh, as_of)},
            )
    except BaseException:
        wh.drop_table(staging)
        raise
    with log.stage("publish"):
        bands = publish_scores(wh, staging)
    log.counts |= {
        "rows_scored": rows,
        "risk_bands": bands,
        "score_rows_total": wh.row_count(scoring.SCORES_TABLE),
    }
    return log.counts


@flow(name="score", log_prints=True)
def score_flow(as_of: dt.date | None = None) -> dict[str, Any]:
    """Score the customers active at AS_OF (default: the latest cut-off)."""
    with flow_session("score", {"as_of": as_of}) as (settings, wh, log):
        return run_score(settings, wh, log, resolve_as_of(wh, as_of))
