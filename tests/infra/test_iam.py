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


def resolve(text: str) -> str:
    """A policy string with the Terraform references replaced by their applied values."""
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
