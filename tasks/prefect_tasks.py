"""Prefect task bindings: each unit of work with its retry and cache policy, nothing more.

Tasks receive the warehouse adapter the flow built once; caching is off (NO_CACHE) because
idempotency comes from warehouse keys, never from Prefect's cache of a live connection.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from tasks.steps import PLAIN, Units
from tasks.warehouse import StatementTimeoutError

TRANSIENT = (ConnectionError, TimeoutError)


def is_transient(exc: BaseException) -> bool:
    """Network trouble worth another attempt; bad data, bad code and our deadlines are not."""
    if isinstance(exc, StatementTimeoutError):
        return False
    if isinstance(exc, TRANSIENT):
        return True
    name = type(exc).__name__
    # Connector and botocore classes, by name so this module imports neither.
    return name in {
        "OperationalError",
        "InterfaceError",
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
    }


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect retry condition: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:  # noqa: BLE001 - classifying is the point
        return is_transient(exc)
    return False


LOCAL: dict[str, Any] = {"cache_policy": NO_CACHE}
# Only units that touch the network retry; their writes are idempotent by warehouse keys
# (manifest, partition replace, MERGE), so a retry after an ambiguous commit is a no-op.
NETWORK_RETRIES: dict[str, Any] = {
    **LOCAL,
    "retries": 3,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}
POLICY = {
    "ensure_portfolio": LOCAL,
    "ingest_source": NETWORK_RETRIES,
    "validate_dataset": LOCAL,
    "stage_features": LOCAL,
    "publish_features": NETWORK_RETRIES,
    "train_models": NETWORK_RETRIES,
    "register_models": LOCAL,
    "stage_scores": NETWORK_RETRIES,
    "publish_scores": NETWORK_RETRIES,
    "monitor_drift": LOCAL,
    "check_realised": LOCAL,
}


def bind(units: Units) -> Units:
    """Each unit as a Prefect task under its own name, with its policy."""
    return Units(**{name: task(getattr(units, name), **POLICY[name]) for name in POLICY})


PREFECT = bind(PLAIN)
