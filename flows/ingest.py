"""Flow `ingest`: synthetic or user files into RAW, then the raw quality gate."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.common import flow_session
from tasks.params import (
    DEFAULTS,
    Columns,
    Customers,
    DateFormat,
    IngestParams,
    OrderLines,
    Seed,
    Source,
    Transactions,
    describe_params,
)
from tasks.steps import ingest_step


@flow(name="ingest", log_prints=True)
@describe_params(IngestParams)
def ingest_flow(
    source: Source = DEFAULTS.source,
    columns: Columns = DEFAULTS.columns,
    date_format: DateFormat = DEFAULTS.date_format,
    order_lines: OrderLines = DEFAULTS.order_lines,
    customers: Customers = DEFAULTS.customers,
    transactions: Transactions = DEFAULTS.transactions,
    seed: Seed = DEFAULTS.seed,
) -> dict[str, Any]:
    """Load a transaction log (file, folder, glob; local or s3://) or a synthetic portfolio."""
    params = IngestParams(**locals())
    with flow_session("ingest", params) as run:
        return ingest_step(run, params)
