"""Real-client end to end: prefect server, work pools, `prefect deploy`, a worker, a run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL = "lifeline-process-e2e"
DEPLOYMENTS = {"weekly-retrain", "daily-scoring", "hourly-ingest", "daily-features", "daily-drift"}
PARAMS = {"customers": 600, "transactions": 60000, "horizon_days": 60, "seed": 11}

pytestmark = pytest.mark.e2e


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp: Path, api_url: str) -> dict[str, str]:
    """This process's environment without Prefect/Lifeline settings, pointed at our server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "LIFELINE_"))}
    return env | {
        "PREFECT_HOME": str(tmp / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "LIFELINE_HOME": str(tmp / "never-used"),  # the run must use the job's LIFELINE_HOME
    }


def prefect(env: dict, *args: str, cwd: Path = ROOT, timeout: int = 300) -> str:
    """Run the prefect CLI non-interactively; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(BIN / "prefect"), "--no-prompt", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def wait_healthy(url: str, server: subprocess.Popen, deadline_s: float = 240) -> None:
    """Poll /health until the server answers (or died, or our deadline passed)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert server.poll() is None, "prefect server exited during start-up"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"prefect server not healthy after {deadline_s} s")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`prefect server start` on a free port with its own PREFECT_HOME; stopped afterwards."""
    tmp = tmp_path_factory.mktemp("prefect-e2e")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = clean_env(tmp, api_url)
    with open(tmp / "server.log", "w") as log:
        proc = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_healthy(api_url, proc)
        yield tmp, env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def current_branch() -> str:
    """The checked-out branch the worker's git_clone pull step checks out."""
    return subprocess.run(
        ["git", "rev-parse", "--abbrev-ref", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


async def read_run(api_url: str, run_id: str) -> tuple:
    """The flow run, its deployment and its artifacts, through the Prefect API client."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):
        async with get_client() as client:
            run = await client.read_flow_run(run_id)
            deployment = await client.read_deployment(run.deployment_id)
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
            )
            deployments = await client.read_deployments()
    return run, deployment, artifacts, deployments


def test_deploy_from_prefect_yaml_and_run_with_a_worker(server):
    tmp, env = server
    home = tmp / "lifeline-home"
    prefect(
        env,
        *("work-pool", "create", POOL, "--type", "process"),
        *("--base-job-template", "deployments/process-base-job-template.json"),
    )
    prefect(
        env,
        *("work-pool", "create", "lifeline-ecs-e2e", "--type", "ecs"),
        *("--base-job-template", "deployments/ecs-base-job-template.json"),
    )
    block = (
        "from prefect.filesystems import LocalFileSystem; import sys; "
        "LocalFileSystem(basepath=sys.argv[1]).save('lifeline-e2e-results', overwrite=True)"
    )
    subprocess.run(
        [sys.executable, "-c", block, str(tmp / "results")], env=env, check=True, timeout=120
    )
    deploy_env = env | {
        "LIFELINE_ENV": "e2e",
        "LIFELINE_REPO_URL": str(ROOT),  # the worker clones this checkout's committed HEAD
        "LIFELINE_GIT_BRANCH": current_branch(),
        "LIFELINE_IMAGE": "lifeline-flows:e2e",
        "LIFELINE_SOURCE_URI": "synthetic",
        "LIFELINE_RESULT_STORAGE": "local-file-system/lifeline-e2e-results",
    }
    prefect(deploy_env, "deploy", "--all")
    # A team without ECS runs the retrain on its VM pool: same deployment, pool overridden.
    prefect(deploy_env, "deploy", "--name", "weekly-retrain", "--pool", POOL)

    job_env = {
        "LIFELINE_TARGET": "local",  # the deployment says snowflake; this run has no account
        "LIFELINE_HOME": str(home),
        "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "true",
        "PREFECT_DEFAULT_RESULT_STORAGE_BLOCK": "local-file-system/lifeline-e2e-results",
    }
    out = prefect(
        env,
        *("deployment", "run", "customer-ml-pipeline/weekly-retrain"),
        *(arg for k, v in PARAMS.items() for arg in ("--param", f"{k}={v}")),
        *("--job-variable", f"env={json.dumps(job_env)}"),
    )
    run_id = out.split("UUID:")[1].split()[0]
    worker_dir = tmp / "worker"
    worker_dir.mkdir()
    worker = prefect(
        env, "worker", "start", "--pool", POOL, "--run-once", cwd=worker_dir, timeout=900
    )

    run, deployment, artifacts, deployments = asyncio.run(read_run(env["PREFECT_API_URL"], run_id))
    assert run.state.is_completed(), run.state
    assert {k: run.parameters[k] for k in PARAMS} == PARAMS
    assert run.parameters["source"] == "synthetic" and run.parameters["promote_margin"] == 0.005
    assert deployment.name == "weekly-retrain" and deployment.work_pool_name == POOL
    assert {d.name for d in deployments} == DEPLOYMENTS
    by_name = {d.name: d for d in deployments}
    assert by_name["daily-scoring"].work_pool_name == POOL
    assert by_name["daily-scoring"].schedules[0].schedule.cron == "0 6 * * *"
    assert by_name["weekly-retrain"].pull_steps[0]["prefect.deployments.steps.git_clone"][
        "repository"
    ] == str(ROOT)
    keys = {a.key for a in artifacts}
    assert {"model-card", "risk-bands", "drift", "run-summary", "quality-raw-transactions"} <= keys
    card = next(a for a in artifacts if a.key == "model-card").data
    assert "churn ROC AUC" in card and "(trainer local)" in card
    # the worker's run wrote to the job's LIFELINE_HOME, not the worker's own
    assert (home / "warehouse.duckdb").exists() and not (tmp / "never-used").exists()
    assert "Deployment step 'git_clone' completed successfully" in worker
