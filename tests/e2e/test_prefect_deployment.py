"""Real-client end to end: prefect server, work pools, `prefect deploy`, a worker, a run."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from tests.e2e.servers import (
    ROOT,
    create_work_pools,
    mlflow_server,
    prefect,
    prefect_server,
    save_results_block,
)

POOL = "lifeline-process-e2e"
DEPLOYMENTS = {"weekly-retrain", "daily-scoring", "hourly-ingest", "daily-features", "daily-drift"}
PARAMS = {"customers": 600, "transactions": 60000, "horizon_days": 60, "seed": 11}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`prefect server` and `mlflow server` on free ports, their own homes; stopped after."""
    tmp = tmp_path_factory.mktemp("prefect-e2e")
    with prefect_server(tmp) as env, mlflow_server(tmp, env) as mlflow_url:
        yield tmp, env | {"MLFLOW_URL": mlflow_url}


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
    create_work_pools(env, [POOL], "lifeline-ecs-e2e")
    save_results_block(env, "lifeline-e2e-results", tmp / "results")
    deploy_env = env | {
        "LIFELINE_ENV": "e2e",
        "LIFELINE_REPO_URL": str(ROOT),  # the worker clones this checkout's committed HEAD
        "LIFELINE_GIT_BRANCH": current_branch(),
        "LIFELINE_IMAGE": "lifeline-flows:e2e",
        "LIFELINE_SOURCE_URI": "synthetic",
        "LIFELINE_RESULT_STORAGE": "local-file-system/lifeline-e2e-results",
        # what the deploy workflow exports from Terraform's lifeline_settings
        "LIFELINE_SNOWFLAKE_DATABASE": "LIFELINE_E2E",
        "LIFELINE_SNOWFLAKE_WAREHOUSE": "LIFELINE_E2E_WH",
        "LIFELINE_MLFLOW_TRACKING_URI": env["MLFLOW_URL"],
        "LIFELINE_S3_BUCKET": "",
        "LIFELINE_SAGEMAKER_ROLE_ARN": "",
        "LIFELINE_SNOWFLAKE_LANDING_STAGE": "",
        "LIFELINE_SNOWFLAKE_LANDING_URL": "",
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
    assert "| churn model | ROC AUC |" in card and "(trainer local)" in card
    assert "#### Holdout charts" in card and "charts/churn_roc_lift.png" in card
    # the champion is in the shared MLflow server the deployment names, not on the worker
    from mlflow import MlflowClient

    champion = MlflowClient(env["MLFLOW_URL"]).get_model_version_by_alias(
        "lifeline-churn", "champion"
    )
    assert champion.version == "1" and not (home / "mlflow.db").exists()
    # the worker's run wrote to the job's LIFELINE_HOME, not the worker's own
    assert (home / "warehouse.duckdb").exists() and not (tmp / "never-used").exists()
    assert "Deployment step 'git_clone' completed successfully" in worker

    # A worker without the deployed setup fails first, in one line, before any data moves.
    bad_env = job_env | {"LIFELINE_TARGET": "snowflake", "LIFELINE_HOME": str(tmp / "bad-home")}
    out = prefect(
        env,
        *("deployment", "run", "score/daily-scoring"),
        *("--job-variable", f"env={json.dumps(bad_env)}"),
    )
    bad_id = out.split("UUID:")[1].split()[0]
    prefect(env, "worker", "start", "--pool", POOL, "--run-once", cwd=worker_dir, timeout=900)
    bad_run = asyncio.run(read_run(env["PREFECT_API_URL"], bad_id))[0]
    assert bad_run.state.is_failed(), bad_run.state
    # the deployment names a SnowflakeConnector block this Prefect server does not have
    assert "doctor: warehouse: SnowflakeConnector block lifeline-e2e is not on the Prefect API" in (
        bad_run.state.message
    )
    assert not (tmp / "bad-home" / "warehouse.duckdb").exists()
