"""What every flow does first and last: settings, one warehouse adapter, a run record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tasks.features import drop_stale_staging
from tasks.guard import publish_lock
from tasks.runs import RunLog, current_run_id, record_run
from tasks.settings import LifelineSettings, load_settings
from tasks.warehouse import Warehouse, open_warehouse


@contextmanager
def flow_session(
    flow_name: str, parameters: dict[str, Any]
) -> Iterator[tuple[LifelineSettings, Warehouse, RunLog]]:
    """Resolve settings, open the warehouse once, record the run's outcome in OPS."""
    settings = load_settings()
    run_id = current_run_id()
    with publish_lock(settings, run_id):
        wh = open_warehouse(settings)
        drop_stale_staging(wh)  # a killed run's leftovers; safe: we hold the publish lock
        log = RunLog(flow_name, run_id, parameters)
        try:
            yield settings, wh, log
        except BaseException as exc:
            record_run(wh, log, "FAILED", f"{type(exc).__name__}: {exc}")
            raise
        else:
            record_run(wh, log, "COMPLETED")
        finally:
            wh.close()


def resolve_as_of(wh: Warehouse, as_of: dt.date | None) -> dt.date:
    """The given cut-off, or the day after the latest transaction (all data used)."""
    if as_of is not None:
        return as_of
    latest = wh.scalar("SELECT MAX(txn_ts) FROM raw.transactions")
    if latest is None:
        raise ValueError("RAW.TRANSACTIONS is empty: ingest data first")
    return latest.date() + dt.timedelta(days=1)
