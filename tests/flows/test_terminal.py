"""The terminal, as a person sees it: each failure is one `error:` line, nothing else.

Every case runs the real `lifeline` console script in its own process (so Prefect's
temporary API, MLflow and DuckDB start and stop as they do for a user) and reads its
stdout and stderr whole.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

LIFELINE = str(Path(sys.executable).with_name("lifeline"))
NOISE = ("Traceback", "nanobind", "telemetry", "leaked", "ERROR", "WARNING")
MAPPING = ["--column", "customer_id=cust", "--column", "txn_ts=date", "--column", "amount=value"]


def lifeline(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess:
    """Run the console script with a clean LIFELINE_ environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LIFELINE_", "PREFECT_"))}
    clean["LIFELINE_POLICY_FILE"] = os.environ.get("LIFELINE_POLICY_FILE", "")
    clean = {k: v for k, v in clean.items() if v}
    return subprocess.run(
        [LIFELINE, *args, "--home", str(home)],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=home.parent,
    )


def assert_one_error_line(done: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """Exit CODE, one `error:` line on stderr naming WORDS, no noise anywhere."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]
    for noise in NOISE:
        assert noise not in done.stdout + done.stderr, noise
    return lines[0]


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def test_a_run_that_works_prints_its_summary_and_nothing_on_stderr(home):
    done = lifeline(["run", "--customers", "600", "--transactions", "60000"], home)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no progress bars, registry chatter or warnings
    assert "scored" in done.stdout and done.stdout.splitlines()[-4] == "Next:"
    for noise in NOISE:
        assert noise not in done.stdout, noise


def test_missing_file(home):
    done = lifeline(["ingest", str(home.parent / "nothere.csv"), *MAPPING], home)
    line = assert_one_error_line(done, 2, "nothere.csv", "no files found")
    assert "(log: " not in line  # caught before a run (and its log) starts


def test_unreadable_csv(home):
    junk = home.parent / "junk.csv"
    junk.write_bytes(b'a,b\n"x,1\n\x00\x01\xff')
    assert_one_error_line(lifeline(["ingest", str(junk), *MAPPING], home), 2, "junk.csv")


def test_gate_failure_shows_the_check_the_count_and_the_values(home):
    bad = home.parent / "bad.csv"
    bad.write_text("cust,date,value,state\nA,20250101,10,approved\nA,20250102,11,chargeback\n")
    done = lifeline(["ingest", str(bad), *MAPPING, "--column", "status=state"], home)
    assert_one_error_line(
        done, 2, "bad.csv", "expect_column_values_to_be_in_set(STATUS)", "1 row", "'chargeback'"
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--trainer", "nonsense"], ["--trainer must be one of"]),
        (["score", "--as-of", "2025-13-01"], ["--as-of must be a date"]),
    ],
)
def test_bad_parameters(home, args, words):
    assert_one_error_line(lifeline(args, home), 2, *words)


def test_missing_snowflake_credentials(home):
    done = lifeline(["score"], home, LIFELINE_TARGET="snowflake")
    assert_one_error_line(done, 2, "LIFELINE_TARGET=snowflake needs")


def test_missing_sagemaker_settings(home):
    done = lifeline(["train", "--trainer", "sagemaker"], home)
    assert_one_error_line(done, 2, "sagemaker", "LIFELINE_S3_BUCKET")


def test_busy_warehouse(home):
    lock = home / "locks" / "publish.lock"
    lock.parent.mkdir(parents=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "run_id": "other", "since": 0}
    lock.write_text(json.dumps(holder))  # this test's process is alive: the lock is held
    started = time.monotonic()
    done = lifeline(["features"], home)
    assert_one_error_line(done, 1, "another Lifeline run", "nothing was written")
    assert time.monotonic() - started < 120


def test_doctor_names_the_first_failed_check_and_its_fix_in_one_line(home):
    ok = lifeline(["doctor"], home)
    assert ok.returncode == 0 and ok.stderr == "" and "ok   warehouse" in ok.stdout
    done = lifeline(["doctor"], home, LIFELINE_TARGET="snowflake")
    line = assert_one_error_line(done, 1, "doctor: warehouse:", "LIFELINE_SNOWFLAKE_ACCOUNT")
    assert "fix: set those variables" in line and "also failed: mlflow" in line
    assert "FAIL mlflow" in done.stdout  # every check is still listed on stdout
