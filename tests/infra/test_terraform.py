"""Terraform without providers: fmt, checkov (built-in + custom) and HCL structure rules."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BAD = Path(__file__).parent / "fixtures" / "bad"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"
ENFORCED = {
    "CKV2_AWS_6",
    "CKV_AWS_53",
    "CKV_AWS_54",
    "CKV_AWS_55",
    "CKV_AWS_56",
    "CKV_AWS_19",
    "CKV_AWS_145",
    "CKV_AWS_21",
    "CKV_AWS_7",
    "CKV_AWS_62",
    "CKV_AWS_63",
    "CKV_AWS_286",
    "CKV_AWS_287",
    "CKV_AWS_288",
    "CKV_AWS_289",
    "CKV_AWS_290",
    "CKV_AWS_355",
    "CKV2_AWS_40",
    "CKV2_AWS_64",
    # custom policies in infra/policies
    "CKV2_LIFELINE_1",
    "CKV_LIFELINE_2",
    "CKV_LIFELINE_3",
    "CKV_LIFELINE_4",
}


def tf_files(root: Path) -> list[Path]:
    """Every .tf file under ROOT."""
    return sorted(root.rglob("*.tf"))


def unquote(value):
    """python-hcl2 8.x keeps the quotes of string literals and keys: drop them."""
    if isinstance(value, str):
        return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    return value


def parse(path: Path) -> dict:
    """One .tf file as python-hcl2 sees it, string quotes removed."""
    with path.open() as fh:
        return unquote(hcl2.load(fh))


def blocks(root: Path, kind: str) -> list[tuple[Path, str, str, dict]]:
    """(file, type, name, body) for every resource/data block of KIND under ROOT."""
    found = []
    for path in tf_files(root):
        for block in parse(path).get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found.append((path, rtype, name, body))
    return found


def checkov_failures(directory: Path) -> tuple[set[str], dict]:
    """Failed check ids from an offline checkov run with the custom policies."""
    if not CHECKOV.exists():
        pytest.fail("checkov is missing: run `make tools` (make test does)")
    out = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "--external-checks-dir",
            str(INFRA / "policies"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(out.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = {c["check_id"] for r in reports for c in r["results"]["failed_checks"]}
    return failed, reports[0]["summary"]


def test_terraform_fmt():
    terraform = shutil.which("terraform")
    assert terraform, "terraform binary not found"
    for target in (INFRA, BAD):
        result = subprocess.run(
            [terraform, "fmt", "-check", "-recursive", "-diff", str(target)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout


@pytest.mark.scenario(30)
def test_checkov_passes_on_infra_and_every_enforced_check_fails_on_the_bad_fixture():
    failed, summary = checkov_failures(INFRA)
    assert failed == set(), failed
    assert summary["passed"] > 100
    bad_failed, _ = checkov_failures(BAD)
    assert bad_failed >= ENFORCED, ENFORCED - bad_failed


@pytest.mark.scenario(30)
def test_checkov_skips_are_inline_and_justified():
    for path in tf_files(INFRA):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                check, _, reason = line.split("checkov:skip=")[1].partition(":")
                assert check and len(reason.strip()) > 15, f"{path}: {line}"


def test_modules_have_the_four_files_and_typed_described_variables():
    for module in [*(INFRA / "modules").iterdir(), *(INFRA / "envs").iterdir()]:
        assert {p.name for p in module.glob("*.tf")} >= {
            "main.tf",
            "variables.tf",
            "outputs.tf",
            "versions.tf",
        }, module
        for variable in parse(module / "variables.tf").get("variable", []):
            for name, body in variable.items():
                assert "type" in body and body.get("description"), f"{module}: {name}"
        for output in parse(module / "outputs.tf").get("output", []):
            for name, body in output.items():
                assert body.get("description"), f"{module}: output {name}"


def iam_statements(root: Path) -> list[tuple[str, dict]]:
    """(document name, statement) for every aws_iam_policy_document under ROOT."""
    return [
        (name, st)
        for _, rtype, name, body in blocks(root, "data")
        if rtype == "aws_iam_policy_document"
        for st in body.get("statement", [])
    ]


@pytest.mark.scenario(30)
def test_no_wildcard_allow_actions_outside_the_kms_key_policy():
    for name, statement in iam_statements(INFRA):
        if statement.get("effect", "Allow") == "Deny":
            continue
        for action in statement.get("actions", []):
            wildcard = action == "*" or action.endswith(":*")
            assert not wildcard or (name == "kms" and action == "kms:*"), (name, action)


@pytest.mark.scenario(30)
def test_every_bucket_is_encrypted_versioned_private_and_tls_only():
    resources = blocks(INFRA, "resource")
    buckets = {name for _, rtype, name, _ in resources if rtype == "aws_s3_bucket"}
    assert buckets
    for companion in (
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_policy",
        "aws_s3_bucket_lifecycle_configuration",
    ):
        covered = {
            body["bucket"].split(".")[1] for _, rtype, _, body in resources if rtype == companion
        }
        assert buckets <= covered, (companion, buckets - covered)
    tls = [
        st
        for _, st in iam_statements(INFRA)
        if st.get("effect") == "Deny"
        and any(c.get("variable") == "aws:SecureTransport" for c in st.get("condition", []))
    ]
    assert tls, "no statement denies aws:SecureTransport = false"


def snowflake_provider_problems(root: Path) -> list[str]:
    """Password auth or ACCOUNTADMIN in any snowflake provider block under ROOT."""
    problems = []
    for path in tf_files(root):
        for provider in parse(path).get("provider", []):
            for name, body in provider.items():
                if name != "snowflake":
                    continue
                if "password" in body:
                    problems.append(f"{path.name}: password")
                if str(body.get("role", "")).upper() == "ACCOUNTADMIN":
                    problems.append(f"{path.name}: ACCOUNTADMIN")
                if body.get("authenticator") != "SNOWFLAKE_JWT":
                    problems.append(f"{path.name}: not key-pair (SNOWFLAKE_JWT)")
    return problems


@pytest.mark.scenario(30)
def test_snowflake_providers_use_key_pairs_and_least_privilege_roles():
    assert snowflake_provider_problems(INFRA) == []
    assert len(snowflake_provider_problems(BAD)) == 3  # the bad fixture is caught


def test_snowflake_grants_use_the_current_resource_and_include_future_grants():
    resources = blocks(INFRA / "modules" / "snowflake", "resource")
    types = {rtype for _, rtype, _, _ in resources}
    assert "snowflake_grant_privileges_to_account_role" in types
    assert not types & {"snowflake_role_grants", "snowflake_table_grant", "snowflake_role"}
    futures = [
        body
        for _, rtype, _, body in resources
        if rtype == "snowflake_grant_privileges_to_account_role"
        and "future" in json.dumps(body.get("on_schema_object", ""))
    ]
    assert futures


def preview_features() -> set[str]:
    """The provider's preview feature names (fixture copied from its source, with commit)."""
    lines = (Path(__file__).parent / "fixtures" / "snowflake_preview_features.txt").read_text()
    return {line for line in lines.splitlines() if line and not line.startswith("#")}


def test_every_preview_resource_is_enabled_on_the_provider_that_manages_it():
    preview = preview_features()
    needed: dict[str, set[str]] = {}  # provider alias -> preview features its resources need
    for kind, suffix in (("resource", "_resource"), ("data", "_datasource")):
        for _, rtype, _, body in blocks(INFRA / "modules", kind):
            if rtype.startswith("snowflake_") and rtype + suffix in preview:
                alias = str(body.get("provider", "snowflake")).removeprefix("${").rstrip("}")
                needed.setdefault(alias.split(".")[-1], set()).add(rtype + suffix)
    assert needed, "no preview resource found: the fixture or the parser is wrong"
    for env in ("dev", "prod"):
        enabled = {}
        for block in parse(INFRA / "envs" / env / "versions.tf").get("provider", []):
            for name, body in block.items():
                if name == "snowflake":
                    enabled[body.get("alias", "snowflake")] = set(
                        body.get("preview_features_enabled", [])
                    )
        for alias, features in needed.items():
            missing = features - enabled.get(alias, set())
            assert not missing, f"{env}: provider snowflake.{alias} must enable {sorted(missing)}"
