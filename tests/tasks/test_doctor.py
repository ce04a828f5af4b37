"""`lifeline doctor`: passes on the local default, names the fix for each missing piece."""

from __future__ import annotations

import http.server
import threading

import pytest

from tasks.doctor import check_mlflow, check_prefect, run_checks
from tasks.settings import load_settings


@pytest.fixture(autouse=True)
def local_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / "home"))
    for name in ("LIFELINE_TARGET", "LIFELINE_MLFLOW_TRACKING_URI", "LIFELINE_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def verdicts(checks) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.ok, c.line()) for c in checks}


def test_local_default_passes():
    found = verdicts(run_checks("local"))
    assert all(ok for ok, _ in found.values()), found
    assert {"settings", "policy", "warehouse", "trainer", "mlflow", "prefect"} <= set(found)


def test_snowflake_and_sagemaker_without_their_settings_fail_with_hints(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("LIFELINE_TARGET", "snowflake")
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # nothing listens
        found = verdicts(run_checks("sagemaker"))
    assert not found["warehouse"][0] and "LIFELINE_SNOWFLAKE_ACCOUNT" in found["warehouse"][1]
    assert not found["trainer"][0] and "LIFELINE_S3_BUCKET" in found["trainer"][1]
    assert "fix: set LIFELINE_MLFLOW_TRACKING_URI" in found["mlflow"][1]  # sqlite is per machine
    assert not found["prefect"][0] and "fix: start the server" in found["prefect"][1]


def test_bad_setting_and_bad_policy_are_named(monkeypatch, tmp_path):
    monkeypatch.setenv("LIFELINE_LOCK_WAIT_S", "-3")
    assert "LIFELINE_LOCK_WAIT_S" in run_checks()[0].line()
    monkeypatch.delenv("LIFELINE_LOCK_WAIT_S")
    bad = tmp_path / "policy.toml"
    bad.write_text("[labels]\nchurn_rate_max = 2\n")
    monkeypatch.setenv("LIFELINE_POLICY_FILE", str(bad))
    found = verdicts(run_checks())
    assert not found["policy"][0] and "labels.churn_rate_max" in found["policy"][1]


class Health(http.server.BaseHTTPRequestHandler):
    """A stand-in answering like `mlflow server` does on /health."""

    def do_GET(self):  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


def test_mlflow_server_health(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        assert check_mlflow(load_settings(mlflow_tracking_uri=url)).ok
    finally:
        server.shutdown()
    down = check_mlflow(load_settings(mlflow_tracking_uri=url))
    assert not down.ok and "start the tracking server" in down.line()


def test_publish_limit_is_checked_on_the_prefect_api(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    settings = load_settings(target="snowflake", snowflake_database="DOCTOR_DB")
    lock = verdicts(check_prefect(settings))["lock"]
    assert not lock[0]
    assert "lifeline-publish-doctor_db missing; fix: run `lifeline blocks`" in lock[1]
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name="lifeline-publish-doctor_db", limit=1)
        )
    assert verdicts(check_prefect(settings))["lock"][0]


def test_a_deployment_run_fails_first_in_one_line_when_the_worker_is_not_set_up(
    prefect_harness, monkeypatch
):
    from prefect import flow
    from prefect.runtime import deployment

    from flows.common import flow_session
    from tasks.errors import ConfigurationError
    from tasks.params import ScoreParams

    @flow
    def deployed() -> None:
        with flow_session("score", ScoreParams()):
            raise AssertionError("the session must not open")

    monkeypatch.setenv("LIFELINE_TARGET", "snowflake")
    # Prefect's documented runtime override: the run sees a deployment id, as on a worker.
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", "3f1c1a52-0000-4000-8000-000000000001")
    with pytest.raises(ConfigurationError, match=r"^doctor: warehouse: .*; fix: set those"):
        deployed()
    monkeypatch.delenv("PREFECT__RUNTIME__DEPLOYMENT__ID")
    monkeypatch.setenv("LIFELINE_TARGET", "local")
    assert deployment.id is None  # a CLI run is not checked (doctor is its own command)


def test_a_managed_mlflow_server_is_shared_and_checked_with_the_role(monkeypatch):
    # No AWS account here: the check must fail on the call, not call the ARN "local".
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens
        "AWS_MAX_ATTEMPTS": "1",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LIFELINE_TARGET", "snowflake")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/lifeline-dev-mlflow"
    monkeypatch.setenv("LIFELINE_MLFLOW_TRACKING_URI", arn)
    check = check_mlflow(load_settings())
    assert not check.ok and arn in check.detail
    assert "sagemaker-mlflow" in check.line() and "local to this machine" not in check.line()


HOLDER = """
import sys, time
from tasks.guard import publish_lock
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse

settings = load_settings()
with publish_lock(settings, "run-holding"), open_warehouse(settings):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_a_warehouse_busy_with_another_run_is_not_a_setup_failure(tmp_path):
    """A deployment run that starts while another writes DuckDB reaches the lock, which
    waits or fails as configured, instead of failing doctor on DuckDB's file lock."""
    import os
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        found = verdicts(run_checks("local"))
        ok, line = found["warehouse"]
        assert ok and "in use by flow run run-holding" in line and "LIFELINE_LOCK_WAIT_S" in line
    finally:
        holder.kill()
        holder.wait()
    assert verdicts(run_checks("local"))["warehouse"][0]  # free again: opened and checked


BRIEF_HOLDER = """
import sys, time
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse

with open_warehouse(load_settings()):
    print("holding", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def test_a_file_held_for_a_moment_without_the_lock_is_waited_for_not_a_setup_failure(tmp_path):
    """Two runs starting together: one's doctor check holds DuckDB while the other's looks."""
    import os
    import subprocess
    import sys

    from tasks.steps import open_when_free
    from tasks.warehouse.duckdb import WarehouseBusyError

    def hold(seconds: float) -> subprocess.Popen:
        holder = subprocess.Popen(
            [sys.executable, "-c", BRIEF_HOLDER, str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        assert holder.stdout.readline().strip() == "holding"
        return holder

    holder = hold(3)
    try:
        ok, line = verdicts(run_checks("local"))["warehouse"]
        assert ok and "open in another process for a moment" in line
        with pytest.raises(WarehouseBusyError, match="nothing was written by this run"):
            open_when_free(load_settings(), wait_s=0)
        open_when_free(load_settings(), wait_s=60).close()  # opened once the holder let go
    finally:
        holder.kill()
        holder.wait()
