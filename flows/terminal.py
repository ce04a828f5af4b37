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
    # Prefect's console handlers: only what stops a run would reach the terminal, and the
    # CLI prints that itself as one line; the log file and the Prefect API get everything.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "CRITICAL",
    "PREFECT_LOGGING_HANDLERS_DEBUG_LEVEL": "CRITICAL",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    # The temporary local API migrates its database on first start: slower than 20 s here.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}
LOG_FORMAT = "%(asctime)s | %(levelname)-7s | %(name)s - %(message)s"


def quiet_environment() -> None:
    """Default the settings that keep Prefect and MLflow off the terminal."""
    if os.environ.get("LIFELINE_VERBOSE"):
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
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
    from mlflow.utils import logging_utils

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(), logging.getLogger("mlflow"), logging.getLogger("prefect")]
    loggers = [lg for lg in loggers if lg is logging.getLogger() or not lg.propagate]
    for logger in loggers:
        logger.addHandler(handler)
    logging.captureWarnings(True)
    mlflow_stream = logging_utils.MLFLOW_LOGGING_STREAM.enabled
    if not os.environ.get("LIFELINE_VERBOSE"):
        logging_utils.disable_logging()  # its own stream prints to stderr, not via handlers
    try:
        yield path
    finally:
        logging_utils.MLFLOW_LOGGING_STREAM.enabled = mlflow_stream
        logging.captureWarnings(False)
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()
