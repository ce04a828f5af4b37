"""Flow `ingest`: synthetic or user files into RAW, then the raw quality gate."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from pydantic import Field

from flows.common import flow_session
from tasks import ingest
from tasks.runs import RunLog
from tasks.settings import LifelineSettings
from tasks.stages import generate_synthetic, ingest_source, validate_dataset
from tasks.warehouse import Warehouse


def run_ingest(
    settings: LifelineSettings,
    wh: Warehouse,
    log: RunLog,
    source: str,
    columns: dict[str, str],
    date_format: str | None,
    customers: int,
    transactions: int,
    seed: int,
) -> dict[str, Any]:
    """Ingest SOURCE (or a synthetic portfolio) and gate RAW.TRANSACTIONS."""
    mapping = ingest.parse_mapping(columns)
    if source == "synthetic":
        folder = settings.home_dir / "landing" / f"synthetic-c{customers}-t{transactions}-s{seed}"
        with log.stage("generate"):
            source = str(generate_synthetic(folder, customers, transactions, seed))
    max_ts = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    with log.stage("ingest"):
        report = ingest_source(wh, source, mapping, log.run_id, date_format, max_ts)
    with log.stage("quality_raw"):
        validate_dataset(wh, "raw_transactions", "RAW.TRANSACTIONS", log.run_id, {"max_ts": max_ts})
    log.counts |= {
        "files_loaded": report.files_loaded,
        "files_skipped": report.files_skipped,
        "rows_ingested": report.rows_loaded,
        "customers_loaded": report.customers_loaded,
        "raw_transactions": wh.row_count("RAW.TRANSACTIONS"),
    }
    return log.counts


@flow(name="ingest", log_prints=True)
def ingest_flow(
    source: str = "synthetic",
    columns: dict[str, str] | None = None,
    date_format: str | None = None,
    customers: Annotated[int, Field(ge=1)] = 5000,
    transactions: Annotated[int, Field(ge=1)] = 500_000,
    seed: int = 7,
) -> dict[str, Any]:
    """Load a transaction log (file, folder, glob; local or s3://) or a synthetic portfolio."""
    params = dict(
        source=source,
        columns=columns,
        date_format=date_format,
        customers=customers,
        transactions=transactions,
        seed=seed,
    )
    with flow_session("ingest", params) as (settings, wh, log):
        return run_ingest(
            settings, wh, log, source, columns or {}, date_format, customers, transactions, seed
        )
