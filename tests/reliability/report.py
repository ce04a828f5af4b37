"""pytest plugin: count docs/reliability.md scenarios, live twins of stand-in gaps, canary leaks."""

from __future__ import annotations

import os

import pytest

SCENARIOS = 30
# What fakesnow/DuckDB cannot show faithfully (docs/reliability.md, finding 1) + our PUT/COPY.
KNOWN_GAPS = {
    "ddl-autocommit": "4: DDL inside a transaction commits it on Snowflake",
    "merge-duplicates": "5: MERGE with duplicate source keys errors on Snowflake",
    "timestamps": "11: write_pandas timestamp round trip",
    "identifier-case": "12: quoted lower-case names are distinct objects on Snowflake",
    "swap": "ALTER TABLE ... SWAP WITH",
    "time-travel": "AT(OFFSET => ...) restore of a published table",
    "put-copy": "ingest through an internal stage (PUT + COPY INTO)",
}
# Secrets planted by the test session (tests/conftest.py) and by tests that build blocks.
CANARIES = (os.environ["LIFELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"], "CANARY-7f3a9c")


class Tally:
    """What the session saw."""

    passed: set[int] = set()
    failed: set[int] = set()
    tests = 0
    twins: set[str] = set()
    leaks: list[str] = []


def pytest_collection_modifyitems(config, items):
    """Count live twins before `-m "not live"` deselects them."""
    for item in items:
        for mark in item.iter_markers("snowflake_integration"):
            Tally.twins.update(mark.args)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Record scenario outcomes and scan every phase's captured output for canaries."""
    outcome = yield
    report = outcome.get_result()
    texts = [content for _, content in report.sections]
    if report.longrepr is not None:
        texts.append(str(report.longrepr))
    for canary in CANARIES:
        if any(canary in text for text in texts):
            Tally.leaks.append(f"{item.nodeid} ({report.when})")
    numbers = {n for mark in item.iter_markers("scenario") for n in mark.args}
    if report.when == "call" and numbers:
        Tally.tests += 1
        (Tally.passed if report.passed else Tally.failed).update(numbers)


def pytest_terminal_summary(terminalreporter):
    """One line per goal, at the end of the run."""
    if not (Tally.passed or Tally.failed):
        return
    ok = Tally.passed - Tally.failed
    missing = sorted(set(range(1, SCENARIOS + 1)) - ok)
    twins = Tally.twins & set(KNOWN_GAPS)
    write = terminalreporter.write_line
    write(
        f"reliability scenarios: {len(ok)}/{SCENARIOS} passed in {Tally.tests} tests"
        + (f"; not passed: {missing}" if missing else "")
    )
    write(
        f"live twins for local stand-in gaps: {len(twins)}/{len(KNOWN_GAPS)} "
        f"(marked live: they need a Snowflake account and are not run here)"
    )
    write(f"canary secrets in captured output: {len(Tally.leaks)} {Tally.leaks or ''}")


def pytest_sessionfinish(session, exitstatus):
    """A leaked canary fails the run even if every test passed."""
    if Tally.leaks:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
