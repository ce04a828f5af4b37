"""SageMaker trainer: moto for the AWS API, the entry point run under the container contract."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from tasks.modeling import ModelConfig, TrainResult, matrix
from tasks.settings import load_settings
from tasks.trainers.local import LocalTrainer
from tasks.trainers.sagemaker import SageMakerTrainer, TrainingJobError
from tests.tasks.test_modeling import training_set

ROLE = "arn:aws:iam::123456789012:role/lifeline-sagemaker"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lifeline-flows:0123abc"
ROOT = Path(__file__).resolve().parents[3]
# describe_training_job for a running job; tests override the status and reasons.
JOB = {
    "TrainingJobName": "j",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/j",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://lifeline-data/m/model.tar.gz"},
    "AlgorithmSpecification": {"TrainingInputMode": "File"},
    "ResourceConfig": {"VolumeSizeInGB": 1},
    "StoppingCondition": {},
    "CreationTime": "2026-01-01",
    "SecondaryStatus": "Training",
    "TrainingJobStatus": "InProgress",
}


@pytest.fixture
def aws(monkeypatch):
    """Fake credentials and a moto account with the data bucket."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="lifeline-data")
        yield


def stubbed(tmp_path, **settings) -> tuple[SageMakerTrainer, Stubber]:
    """A trainer whose SageMaker client is a botocore Stubber."""
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    config = load_settings(
        home=tmp_path,
        s3_bucket="lifeline-data",
        sagemaker_role_arn=ROLE,
        sagemaker_image_uri=IMAGE,
        **settings,
    )
    return SageMakerTrainer(config, sagemaker_client=client, poll_seconds=0), Stubber(client)


def trainer(tmp_path, **kw) -> SageMakerTrainer:
    """A trainer configured for the moto bucket and role."""
    settings = load_settings(
        home=tmp_path,
        s3_bucket="lifeline-data",
        sagemaker_role_arn=ROLE,
        sagemaker_image_uri=IMAGE,
        **kw,
    )
    return SageMakerTrainer(settings, poll_seconds=0)


def run_container(job: dict, tmp_path: Path) -> None:
    """Do what SageMaker does with the job: fetch the channel, run the image's command, tar
    /opt/ml/model (here under TMP_PATH) to the output path."""
    s3 = boto3.client("s3")
    uri = job["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, _, prefix = uri[5:].partition("/")
    train, model = tmp_path / "train", tmp_path / "model"
    for path in (train, model):
        path.mkdir()
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        s3.download_file(bucket, obj["Key"], str(train / Path(obj["Key"]).name))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(ROOT),  # the image has the repository installed
        "SM_CHANNEL_TRAIN": str(train),
        "SM_MODEL_DIR": str(model),
        "SM_HPS": json.dumps(job["HyperParameters"]),
    }
    command = job["AlgorithmSpecification"]["ContainerEntrypoint"]
    assert command[0] == "python"
    subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, env=env, check=True, timeout=600)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in model.iterdir():
            tar.add(path, arcname=path.name)
    out_bucket, _, out_key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].partition("/")
    s3.put_object(Bucket=out_bucket, Key=out_key, Body=buffer.getvalue())


def test_sagemaker_job_round_trip_gives_an_interchangeable_model(aws, tmp_path):
    data, config = training_set(900), ModelConfig(max_iter=40)
    sm_trainer = trainer(tmp_path / "home")
    spec = sm_trainer.submit(data, config, 90)
    job = sm_trainer.sm.describe_training_job(TrainingJobName=spec.name)
    assert job["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    run_container(job, tmp_path)
    result = sm_trainer.fetch(sm_trainer.wait(spec.name))
    local = LocalTrainer().train(data, config, 90)
    assert isinstance(result, TrainResult)
    assert result.features == local.features
    assert type(result.churn_model) is type(local.churn_model)
    holdout = matrix(data[data["ROLE"] == "holdout"], result.features)
    assert result.churn_model.predict_proba(holdout).shape == (len(holdout), 2)
    assert result.metrics["churn_roc_auc"] == pytest.approx(local.metrics["churn_roc_auc"])
    # a retried flow re-submits: same name, the job is attached to, not created twice
    assert sm_trainer.submit(data, config, 90).name == spec.name
    assert len(sm_trainer.sm.list_training_jobs()["TrainingJobSummaries"]) == 1


def test_preflight_needs_bucket_and_role(tmp_path):
    bare = SageMakerTrainer(load_settings(home=tmp_path))
    from tasks.trainers import TrainerUnavailableError

    with pytest.raises(TrainerUnavailableError, match="LIFELINE_S3_BUCKET.*IMAGE_URI"):
        bare.preflight()


@pytest.mark.scenario(18)
def test_our_deadline_stops_waiting(tmp_path):
    sm, stub = stubbed(tmp_path, sagemaker_max_wait_s=60)
    stub.add_response("describe_training_job", JOB)
    sm.settings = sm.settings.model_copy(update={"sagemaker_max_wait_s": -1})
    with stub, pytest.raises(TrainingJobError, match="our deadline"):
        sm.wait("j")
