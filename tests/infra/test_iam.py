"""IAM policies from the HCL, evaluated (moto's evaluator) against what the code really does.

The SageMaker trainer runs against moto; every S3 key it and the training job touch, and the
image the job pulls, must be allowed by the execution role Terraform gives the job.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

import boto3
import pytest
from moto import mock_aws
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from tasks.modeling import ModelConfig
from tasks.settings import load_settings
from tasks.trainers.sagemaker import SageMakerTrainer
from tests.infra.test_terraform import INFRA, blocks
from tests.tasks.test_modeling import training_set

ACCOUNT, REGION, BUCKET = "123456789012", "us-east-1", "lifeline-dev-data-123456789012"
NAME_PREFIX = "lifeline-dev"
STATE_BUCKET = "acme-terraform-state"
# Terraform references in the policy documents, as their values would be after apply.
ECR = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{NAME_PREFIX}-flows"
REFERENCES = {
    "${aws_s3_bucket.data.arn}": f"arn:aws:s3:::{BUCKET}",
    "${aws_kms_key.data.arn}": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0000",
    "${aws_ecr_repository.flows.arn}": ECR,
    "${aws_iam_role.sagemaker.arn}": f"arn:aws:iam::{ACCOUNT}:role/{NAME_PREFIX}-sagemaker",
    "${local.partition}": "aws",
    "${local.account_id}": ACCOUNT,
    "${data.aws_region.current.name}": REGION,
    "${var.name_prefix}": NAME_PREFIX,
    "${var.terraform_state_bucket}": STATE_BUCKET,
    "${var.terraform_state_prefix}": "lifeline/dev/",  # what the stack passes for env dev
}
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{NAME_PREFIX}-flows:0123abc"


def variable_default(name: str) -> str:
    """A variable's default in the aws module."""
    found = [b for b in blocks_of("variable") if name in b]
    return found[0][name]["default"]


def blocks_of(kind: str) -> list[dict]:
    """Top-level KIND blocks of the aws module's variables.tf."""
    from tests.infra.test_terraform import parse

    return parse(INFRA / "modules" / "aws" / "variables.tf").get(kind, [])


def module_locals() -> dict[str, str]:
    """The aws module's locals, as written (references unresolved)."""
    from tests.infra.test_terraform import parse

    found: dict[str, str] = {}
    for block in parse(INFRA / "modules" / "aws" / "main.tf")["locals"]:
        found.update(block)
    return found


def resolve(text: str) -> str:
    """A policy string with the Terraform references replaced by their applied values."""
    for name, value in module_locals().items():
        if name.startswith("own_"):  # locals the policies use: resolved like the rest
            text = text.replace(f"${{local.{name}}}", value)
    for ref, value in REFERENCES.items():
        text = text.replace(ref, value)
    return text.replace("${var.s3_prefix}", variable_default("s3_prefix"))


def policy_statements(name: str) -> list[dict]:
    """The IAM JSON statements of `data "aws_iam_policy_document" NAME` in the aws module."""
    [body] = [
        b
        for _, t, n, b in blocks(INFRA / "modules" / "aws", "data")
        if t == "aws_iam_policy_document" and n == name
    ]
    statements = []
    for st in body["statement"]:
        doc = {
            "Effect": st.get("effect", "Allow"),
            "Action": [resolve(a) for a in st["actions"]],
            "Resource": [resolve(r) for r in st.get("resources", ["*"])],
        }
        for cond in st.get("condition", []):
            doc.setdefault("Condition", {}).setdefault(cond["test"], {})[cond["variable"]] = [
                resolve(v) for v in cond["values"]
            ]
        statements.append(doc)
    return statements


def condition_holds(statement: dict, context: dict[str, str]) -> bool:
    """StringLike/StringEquals conditions of STATEMENT against the request CONTEXT."""
    tests = {"StringLike": fnmatchcase, "StringEquals": str.__eq__}
    for test, variables in statement.get("Condition", {}).items():
        for variable, patterns in variables.items():
            value = context.get(variable)
            if value is None or not any(tests[test](value, p) for p in patterns):
                return False
    return True


def allowed(statements: list[dict], action: str, resource: str, **context: str) -> bool:
    """IAM's verdict: some Allow matches (action, resource, conditions) and no Deny does."""
    verdicts = [
        IAMPolicyStatement(st).is_action_permitted(action, resource)
        for st in statements
        if condition_holds(st, context)
    ]
    return PermissionResult.PERMITTED in verdicts and PermissionResult.DENIED not in verdicts


@pytest.fixture
def job(monkeypatch, tmp_path):
    """A real trainer submitting a job to moto: its spec, its request and the bucket's keys."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        settings = load_settings(
            home=tmp_path,
            s3_bucket=BUCKET,
            sagemaker_role_arn=REFERENCES["${aws_iam_role.sagemaker.arn}"],
            sagemaker_image_uri=IMAGE,
        )
        trainer = SageMakerTrainer(settings, poll_seconds=0)
        spec = trainer.submit(training_set(300), ModelConfig(max_iter=10), 90)
        request = trainer.sm.describe_training_job(TrainingJobName=spec.name)
        listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET)["Contents"]
        yield spec, request, [o["Key"] for o in listed]


def test_the_sagemaker_role_allows_every_key_and_image_the_training_job_uses(job):
    spec, request, written = job
    statements = policy_statements("sagemaker")
    arn = REFERENCES["${aws_s3_bucket.data.arn}"]
    channel = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    channel_prefix = channel.split(f"{BUCKET}/", 1)[1]
    assert written and all(k.startswith(channel_prefix) for k in written)
    # SageMaker lists the channel and reads each object of it
    assert allowed(statements, "s3:ListBucket", arn, **{"s3:prefix": channel_prefix})
    for key in written:
        assert allowed(statements, "s3:GetObject", f"{arn}/{key}"), key
    # it writes model.tar.gz under the output path and checkpoints (and reads them back)
    output = request["OutputDataConfig"]["S3OutputPath"].split(f"{BUCKET}/", 1)[1]
    checkpoints = request["CheckpointConfig"]["S3Uri"].split(f"{BUCKET}/", 1)[1]
    for key in (f"{output}{spec.name}/output/model.tar.gz", f"{checkpoints}state.pt"):
        assert allowed(statements, "s3:PutObject", f"{arn}/{key}"), key
        assert allowed(statements, "s3:GetObject", f"{arn}/{key}"), key
    # and pulls the image it was given from the repository Terraform made
    image = request["AlgorithmSpecification"]["TrainingImage"]
    repository = image.split("/", 1)[1].split(":")[0]
    ecr = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}"
    assert allowed(statements, "ecr:BatchGetImage", ecr)
    assert allowed(statements, "ecr:GetDownloadUrlForLayer", ecr)
    # and nothing outside the prefix: the bucket root stays closed to the job
    assert not allowed(statements, "s3:GetObject", f"{arn}/landing/today.csv")
    assert not allowed(statements, "s3:ListBucket", arn, **{"s3:prefix": "landing/"})


def test_the_deploy_role_can_push_the_flow_image_and_pass_only_the_sagemaker_role():
    statements = policy_statements("github_deploy")
    ecr = REFERENCES["${aws_ecr_repository.flows.arn}"]
    for action in ("ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:PutImage"):
        assert allowed(statements, action, ecr), action
    assert allowed(statements, "ecr:GetAuthorizationToken", "*")
    assert not allowed(statements, "ecr:PutImage", ecr.replace("-flows", "-other"))
    role = REFERENCES["${aws_iam_role.sagemaker.arn}"]
    assert allowed(
        statements, "iam:PassRole", role, **{"iam:PassedToService": "sagemaker.amazonaws.com"}
    )
    assert not allowed(statements, "iam:PassRole", role.replace("sagemaker", "admin"))


def test_policies_parse_to_valid_json():
    for name in ("sagemaker", "github_deploy", "bucket"):
        json.dumps({"Version": "2012-10-17", "Statement": policy_statements(name)})


# What the AWS provider calls to create, read (plan/refresh), update and delete each resource
# type of the stack, on the ARN the resource gets after apply. A resource type missing here
# fails the test below: adding one means saying what the deploy role needs for it.
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{NAME_PREFIX}"
S3 = f"arn:aws:s3:::{BUCKET}"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_CALLS = [
    "iam:CreateRole",
    "iam:GetRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:TagRole",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:DeleteRole",
]
ROLE_POLICY_CALLS = ["iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"]
PROVIDER_CALLS: dict[str, list[tuple[str, str]]] = {
    "aws_iam_role": [
        (a, f"{ROLE}-{n}")
        for n in ("sagemaker", "github-deploy", "snowflake-storage")
        for a in ROLE_CALLS
    ],
    "aws_iam_role_policy": [
        (a, f"{ROLE}-{n}")
        for n in ("sagemaker", "github-deploy", "snowflake-storage")
        for a in ROLE_POLICY_CALLS
    ],
    "aws_iam_openid_connect_provider": [
        (a, f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com")
        for a in (
            "iam:CreateOpenIDConnectProvider",
            "iam:GetOpenIDConnectProvider",
            "iam:TagOpenIDConnectProvider",
            "iam:UpdateOpenIDConnectProviderThumbprint",
            "iam:DeleteOpenIDConnectProvider",
        )
    ],
    "aws_kms_key": [("kms:CreateKey", "*")]
    + [
        (a, KEY)
        for a in (
            "kms:DescribeKey",
            "kms:GetKeyPolicy",
            "kms:GetKeyRotationStatus",
            "kms:ListResourceTags",
            "kms:EnableKeyRotation",
            "kms:PutKeyPolicy",
            "kms:TagResource",
            "kms:UpdateKeyDescription",
            "kms:ScheduleKeyDeletion",
        )
    ],
    "aws_kms_alias": [
        ("kms:ListAliases", "*"),
        ("kms:CreateAlias", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{NAME_PREFIX}-data"),
        ("kms:CreateAlias", KEY),
        ("kms:DeleteAlias", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/{NAME_PREFIX}-data"),
    ],
    "aws_s3_bucket": [
        (a, S3)
        for a in (
            "s3:CreateBucket",
            "s3:ListBucket",  # HeadBucket
            "s3:GetBucketAcl",
            "s3:GetBucketCORS",
            "s3:GetBucketWebsite",
            "s3:GetBucketVersioning",
            "s3:GetAccelerateConfiguration",
            "s3:GetBucketRequestPayment",
            "s3:GetBucketLogging",
            "s3:GetLifecycleConfiguration",
            "s3:GetReplicationConfiguration",
            "s3:GetEncryptionConfiguration",
            "s3:GetBucketObjectLockConfiguration",
            "s3:GetBucketTagging",
            "s3:PutBucketTagging",
            "s3:GetBucketPolicy",
            "s3:DeleteBucket",
        )
    ],
    "aws_s3_bucket_policy": [
        (a, S3) for a in ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy")
    ],
    "aws_s3_bucket_public_access_block": [
        (a, S3) for a in ("s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock")
    ],
    "aws_s3_bucket_versioning": [
        (a, S3) for a in ("s3:PutBucketVersioning", "s3:GetBucketVersioning")
    ],
    "aws_s3_bucket_server_side_encryption_configuration": [
        (a, S3) for a in ("s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration")
    ],
    "aws_s3_bucket_lifecycle_configuration": [
        (a, S3) for a in ("s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration")
    ],
    "aws_ecr_repository": [
        (a, ECR)
        for a in (
            "ecr:CreateRepository",
            "ecr:DescribeRepositories",
            "ecr:ListTagsForResource",
            "ecr:TagResource",
            "ecr:PutImageScanningConfiguration",
            "ecr:PutImageTagMutability",
            "ecr:DeleteRepository",
        )
    ],
    "aws_sagemaker_mlflow_tracking_server": [
        (a, f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-tracking-server/{NAME_PREFIX}-mlflow")
        for a in (
            "sagemaker:CreateMlflowTrackingServer",
            "sagemaker:DescribeMlflowTrackingServer",
            "sagemaker:ListTags",
            "sagemaker:AddTags",
            "sagemaker:UpdateMlflowTrackingServer",
            "sagemaker:DeleteMlflowTrackingServer",
        )
    ],
}


def stack_resource_types() -> set[str]:
    """Every aws_* resource type the modules of an environment's stack declare."""
    return {
        rtype
        for module in ("aws", "integration")
        for _, rtype, _, _ in blocks(INFRA / "modules" / module, "resource")
        if rtype.startswith("aws_")
    }


def backend_keys(env: str) -> list[str]:
    """The state object of ENV's S3 backend and the lock file `use_lockfile` writes beside it."""
    from tests.infra.test_terraform import parse

    [backend] = parse(INFRA / "envs" / env / "versions.tf")["terraform"][0]["backend"]
    key = backend["s3"]["key"]
    return [key, f"{key}.tflock"] if backend["s3"].get("use_lockfile") else [key]


def test_the_deploy_role_can_plan_and_apply_the_whole_stack_it_belongs_to():
    statements = policy_statements("github_deploy")
    assert stack_resource_types() <= set(PROVIDER_CALLS), "say what a new resource type needs"
    for rtype in stack_resource_types():
        for action, arn in PROVIDER_CALLS[rtype]:
            assert allowed(statements, action, arn), f"{rtype}: {action} on {arn}"
    # the state: terraform init lists the bucket, plan reads, apply writes and locks
    assert allowed(statements, "s3:ListBucket", f"arn:aws:s3:::{STATE_BUCKET}")
    for key in backend_keys("dev"):
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert allowed(statements, action, f"arn:aws:s3:::{STATE_BUCKET}/{key}"), key


def test_the_deploy_role_cannot_reach_beyond_its_own_environment():
    statements = policy_statements("github_deploy")
    other = NAME_PREFIX.replace("dev", "prod")
    assert not allowed(statements, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{other}-x")
    assert not allowed(statements, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/admin")
    assert not allowed(statements, "iam:AttachRolePolicy", f"{ROLE}-github-deploy")
    for key in backend_keys("prod"):
        assert not allowed(statements, "s3:GetObject", f"arn:aws:s3:::{STATE_BUCKET}/{key}")
    assert not allowed(statements, "s3:GetObject", f"{S3}/landing/today.csv")  # no data reads
    assert not allowed(statements, "s3:PutBucketPolicy", f"arn:aws:s3:::{other}-data-1")
    assert not allowed(statements, "kms:Decrypt", KEY)
