"""A calm terminal for the CLI: the full story goes to a log file, the terminal gets the gist.

Prefect, MLflow and the libraries under them write INFO lines, tracebacks and telemetry
errors to stderr. For a person at a terminal the run summary (or one `error:` line) is what
matters; the log file under LIFELINE_HOME keeps everything, and the Prefect API still
records every run's logs and states.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Set before Prefect or MLflow read their settings (each user-set value wins).
QUIET_ENVIRONMENT = {
    # The temporary local API must not try to send telemetry (offline: an ERROR per run,
    # and a "database is locked" traceback while it migrates its sqlite file).
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",  # the client's side of the same (and its opt-out banner on a TTY)
    # Prefect's console handlers: only what stops a run would reach the terminal, and the
    # CLI prints that itself as one line; the log file and the Prefect API get everything.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL": "CRITICAL",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # MLflow draws a tqdm bar on stderr for each artifact it reads back (scoring's importances).
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # The temporary local API migrates its database on first start: slower than 20 s here.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
LOG_FORMAT = "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"


def quiet_environment() -> None:
    """Default the settings that keep Prefect and MLflow off the terminal."""
    if os.environ.get("LIFELINE_VERBOSE"):
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("DO_NOT_TRACK", "1")
        return
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)


def log_path(home: Path, command: str) -> Path:
    """A new log file for one CLI command under HOME/logs."""
    folder = home / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{command}-{stamp}-{os.getpid()}.log"


@contextmanager
def logged_to(path: Path) -> Iterator[Path]:
    """Send every log record (warnings and MLflow's included) to PATH while inside."""
    from contextlib import nullcontext

    from mlflow.utils.autologging_utils import MlflowEventsAndWarningsBehaviorGlobally

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(), logging.getLogger("mlflow"), logging.getLogger("prefect")]
    loggers = [lg for lg in loggers if lg is logging.getLogger() or not lg.propagate]
    for logger in loggers:
        logger.addHandler(handler)
    logging.captureWarnings(True)
    # MLflow prints its events ("Successfully registered model ...") on its own stream, not
    # through handlers; this counted switch keeps it off even when MLflow nests its own.
    silence = (
        nullcontext()
        if os.environ.get("LIFELINE_VERBOSE")
        else MlflowEventsAndWarningsBehaviorGlobally(
            disable_event_logs=True, disable_warnings=False, reroute_warnings=False
        )
    )
    try:
        with silence:
            yield path
    finally:
        logging.captureWarnings(False)
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()


def wants_progress() -> bool:
    """Progress bars only for a person: a TTY on stderr, not CI, not asked to be quiet."""
    import sys

    if os.environ.get("CI") or os.environ.get("LIFELINE_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


@contextmanager
def progress_display(console: object | None = None) -> Iterator[None]:
    """Show the units' progress reports as rich progress bars on stderr (transient)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from tasks import progress

    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, int] = {}

    def show(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            for other in tasks.values():  # a new stage: the earlier one is over
                bars.remove_task(other)
            tasks.clear()
            tasks[stage] = bars.add_task(stage, total=total)
        bars.update(tasks[stage], completed=done, total=total)

    with bars, progress.listening(show):
        yield
