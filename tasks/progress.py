"""Progress of long work: units report it, whoever listens shows it (the CLI, on a TTY).

Nothing listens by default (flows on workers, tests, CI), so a report costs a function call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# (stage, done, total): total None means "unknown", e.g. rows of a stream still running.
Listener = Callable[[str, int, "int | None"], None]
_LISTENERS: list[Listener] = []
_LOCK = threading.Lock()


def advance(stage: str, done: int = 0, total: int | None = None) -> None:
    """Report that STAGE has DONE of TOTAL units behind it."""
    with _LOCK:
        listeners = list(_LISTENERS)
    for listener in listeners:
        listener(stage, done, total)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send every report to LISTENER while inside."""
    with _LOCK:
        _LISTENERS.append(listener)
    try:
        yield
    finally:
        with _LOCK:
            _LISTENERS.remove(listener)
