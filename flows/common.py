"""What every flow does first and last: settings, one warehouse adapter, a run record."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tasks.doctor import require_setup
from tasks.params import StepParams
from tasks.prefect_tasks import PREFECT
from tasks.runs import current_run_id, deployment_run
from tasks.settings import load_settings
from tasks.steps import StepRun, resolve_as_of, run_session

__all__ = ["flow_session", "resolve_as_of"]


@contextmanager
def flow_session(flow_name: str, params: StepParams) -> Iterator[StepRun]:
    """This flow run's session: settings from the environment, units bound as Prefect tasks.

    A deployment's run first checks its worker's setup (`lifeline doctor`): a missing
    setting, block, credential, MLflow server or lock fails the run in one line.
    """
    if deployment_run():
        require_setup()
    with run_session(flow_name, params, current_run_id(), load_settings(), PREFECT) as run:
        yield run
