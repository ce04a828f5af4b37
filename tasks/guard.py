"""One publisher at a time per warehouse: a lock file locally, a Prefect limit on Snowflake."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tasks.errors import ConfigurationError
from tasks.identifiers import validate_identifier


class RunInProgressError(RuntimeError):
    """Another run holds the publish lock for the same warehouse."""


def pid_alive(pid: int) -> bool:
    """Whether a process with PID exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_holder(path: Path) -> dict:
    """The lock file's holder record ({} when unreadable or gone)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def try_lock_file(path: Path, holder: dict) -> bool:
    """Create PATH atomically with HOLDER inside; break it first if its holder died here."""
    draft = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    draft.write_text(json.dumps(holder))
    try:
        for _ in range(2):
            try:
                os.link(draft, path)  # atomic: the lock appears complete or not at all
                return True
            except FileExistsError:
                if live_holder(path):
                    return False
                path.unlink(missing_ok=True)  # a killed run's lock: stale
        return False
    finally:
        draft.unlink(missing_ok=True)


@contextmanager
def file_lock(path: Path, run_id: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold PATH for this thread's run; fail fast (or after WAIT_S) if another run holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "since": time.time(),
    }
    deadline = time.monotonic() + wait_s
    while not try_lock_file(path, holder):
        if time.monotonic() >= deadline:
            other = read_holder(path)
            raise RunInProgressError(
                f"another Lifeline run (flow run {other.get('run_id')}, pid {other.get('pid')}) "
                f"is publishing to this warehouse; nothing was written by this run. Retry after "
                f"it ends (lock: {path})"
            )
        time.sleep(0.5)
    try:
        yield
    finally:
        if read_holder(path).get("run_id") == run_id:
            path.unlink(missing_ok=True)


def local_lock_path(settings: Any) -> Path:
    """The lock file of the local (DuckDB) warehouse."""
    return settings.home_dir / "locks" / "publish.lock"


def live_holder(path: Path) -> dict:
    """The record of a run holding PATH right now ({} when free or its holder died here)."""
    holder = read_holder(path)
    dead = holder.get("host") == socket.gethostname() and not pid_alive(holder.get("pid", 0))
    return {} if not holder or dead else holder


def publish_limit_name(database: str) -> str:
    """The Prefect global concurrency limit that serialises runs on one Snowflake database."""
    return f"lifeline-publish-{validate_identifier(database, 1).lower()}"


@contextmanager
def publish_lock(settings: Any, run_id: str) -> Iterator[None]:
    """Serialise runs that publish to the same warehouse."""
    if settings.target != "snowflake":
        with file_lock(local_lock_path(settings), run_id, settings.lock_wait_s):
            yield
        return
    # Runs on different machines share only the Prefect API: a global concurrency limit of 1
    # (created by `lifeline blocks`); strict, so a missing limit is an error, not a free pass.
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
    from prefect.concurrency.sync import concurrency

    name = publish_limit_name(settings.snowflake_database)
    try:
        with concurrency(name, occupy=1, timeout_seconds=max(settings.lock_wait_s, 1), strict=True):
            yield
    except TimeoutError as exc:
        raise RunInProgressError(
            f"another Lifeline run holds the concurrency limit {name}; nothing was written"
        ) from exc
    except ConcurrencySlotAcquisitionError as exc:
        if "must be created" not in str(exc):
            raise
        raise ConfigurationError(
            f"the Prefect concurrency limit {name} does not exist on this Prefect API: "
            "create it with `lifeline blocks`"
        ) from None
