"""What every flow does first and last: settings, one warehouse adapter, a run record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tasks.params import StepParams
from tasks.runs import RunLog, current_run_id, run_session
from tasks.settings import LifelineSettings, load_settings
from tasks.steps import resolve_as_of
from tasks.warehouse import Warehouse

__all__ = ["flow_session", "resolve_as_of"]


@contextmanager
def flow_session(
    flow_name: str, params: StepParams
) -> Iterator[tuple[LifelineSettings, Warehouse, RunLog]]:
    """The run session of this Prefect flow run, with settings from the environment."""
    settings = load_settings()
    with run_session(flow_name, params, current_run_id(), settings) as (wh, log):
        yield settings, wh, log
