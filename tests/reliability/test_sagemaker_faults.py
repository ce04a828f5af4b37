"""SageMaker outcomes, re-submission, throttling and broken model artifacts."""

from __future__ import annotations

import io
import tarfile

import boto3
import pytest
from botocore.stub import ANY

from tasks.modeling import ModelConfig
from tasks.settings import load_settings
from tasks.trainers.sagemaker import SageMakerTrainer, TrainingJobError, job_name
from tests.tasks.test_modeling import training_set
from tests.tasks.trainers.test_sagemaker import (  # noqa: F401 (aws is a fixture)
    JOB,
    ROLE,
    aws,
    stubbed,
)


@pytest.mark.scenario(23)
@pytest.mark.scenario(24)
@pytest.mark.parametrize(
    ("status", "extra", "outcome"),
    [
        ("Completed", {}, None),
        ("Failed", {"FailureReason": "CapacityError: no ml.m5.xlarge"}, "failed: CapacityError"),
        ("Failed", {"FailureReason": "AlgorithmError: boom"}, "failed: AlgorithmError: boom"),
        ("Stopped", {"SecondaryStatus": "Stopped"}, "stopped: Stopped"),
        ("Stopped", {"SecondaryStatus": "MaxRuntimeExceeded"}, "stopped: MaxRuntimeExceeded"),
        ("Stopped", {"SecondaryStatus": "MaxWaitTimeExceeded"}, "stopped: MaxWaitTimeExceeded"),
    ],
)
def test_every_terminal_outcome(tmp_path, status, extra, outcome):
    trainer, stub = stubbed(tmp_path)
    stub.add_response("describe_training_job", JOB)
    stub.add_response("describe_training_job", {**JOB, "TrainingJobStatus": status, **extra})
    with stub:
        if outcome is None:
            assert trainer.wait("j")["TrainingJobStatus"] == "Completed"
        else:
            with pytest.raises(TrainingJobError, match=f"training job j {outcome}"):
                trainer.wait("j")


def expected_create(trainer: SageMakerTrainer, name: str, spot: bool) -> dict:
    """The create_training_job request we require: checkpoints always, spot caps when spot."""
    stopping = {"MaxRuntimeInSeconds": trainer.settings.sagemaker_max_runtime_s}
    if spot:
        stopping["MaxWaitTimeInSeconds"] = trainer.settings.sagemaker_max_wait_s
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": ANY,
        "RoleArn": ROLE,
        "HyperParameters": ANY,
        "InputDataConfig": ANY,
        "OutputDataConfig": ANY,
        "ResourceConfig": ANY,
        "StoppingCondition": stopping,
        "EnableManagedSpotTraining": spot,
        "CheckpointConfig": {
            "S3Uri": f"s3://lifeline-data/lifeline/checkpoints/{name}/",
            "LocalPath": "/opt/ml/checkpoints",
        },
        "Tags": ANY,
    }


@pytest.mark.scenario(24)
@pytest.mark.parametrize("spot", [False, True])
def test_jobs_checkpoint_so_a_stopped_job_can_resume(aws, tmp_path, spot):  # noqa: F811
    trainer, stub = stubbed(tmp_path, sagemaker_use_spot=spot)
    data, config = training_set(100), ModelConfig()
    name = job_name(data, config, 90)
    stub.add_response(
        "create_training_job", {"TrainingJobArn": "arn:x"}, expected_create(trainer, name, spot)
    )
    with stub:
        trainer.submit(data, config, 90)
    stub.assert_no_pending_responses()


@pytest.mark.scenario(25)
def test_resubmission_attaches_to_the_running_job(aws, tmp_path):  # noqa: F811
    trainer, stub = stubbed(tmp_path)
    data, config = training_set(100), ModelConfig()
    stub.add_client_error(
        "create_training_job",
        service_error_code="ResourceInUse",
        service_message=f"Training job {job_name(data, config, 90)} already exists",
    )
    stub.add_response("describe_training_job", {**JOB, "TrainingJobStatus": "Completed"})
    with stub:
        spec = trainer.submit(data, config, 90)  # no second create is queued: it would fail
        assert trainer.wait(spec.name)["TrainingJobStatus"] == "Completed"
    stub.assert_no_pending_responses()


@pytest.mark.scenario(26)
def test_throttled_polls_back_off_and_then_complete(tmp_path, monkeypatch):
    trainer, stub = stubbed(tmp_path)
    trainer.poll_seconds = 1
    sleeps = []
    monkeypatch.setattr("tasks.trainers.sagemaker.time.sleep", sleeps.append)
    for _ in range(4):
        stub.add_client_error("describe_training_job", service_error_code="ThrottlingException")
    stub.add_response("describe_training_job", {**JOB, "TrainingJobStatus": "Completed"})
    with stub:
        assert trainer.wait("j")["TrainingJobStatus"] == "Completed"
    assert len(sleeps) == 4
    assert all(0.5 * 2**i <= s <= 2 ** (i + 1) for i, s in enumerate(sleeps, 1) if s < 300)


@pytest.mark.scenario(26)
def test_throttling_never_outlives_our_deadline(tmp_path, monkeypatch):
    trainer, stub = stubbed(tmp_path, sagemaker_max_wait_s=60)
    trainer.poll_seconds = 30
    monkeypatch.setattr("tasks.trainers.sagemaker.time.sleep", lambda s: None)
    for _ in range(3):
        stub.add_client_error("describe_training_job", service_error_code="ThrottlingException")
    with stub, pytest.raises(TrainingJobError, match="throttled past our deadline"):
        trainer.wait("j")


@pytest.mark.scenario(27)
@pytest.mark.parametrize("body", [None, b"", b"not a tarball", "empty-tar"])
def test_missing_or_corrupt_model_artifact_is_a_clear_error(aws, tmp_path, body):  # noqa: F811
    trainer = SageMakerTrainer(
        load_settings(home=tmp_path, s3_bucket="lifeline-data", sagemaker_role_arn=ROLE)
    )
    if body == "empty-tar":
        buffer = io.BytesIO()
        tarfile.open(fileobj=buffer, mode="w:gz").close()
        body = buffer.getvalue()
    if body is not None:
        boto3.client("s3").put_object(Bucket="lifeline-data", Key="m/model.tar.gz", Body=body)
    with pytest.raises(TrainingJobError, match="model artifact .* is missing or corrupt"):
        trainer.fetch({**JOB, "TrainingJobStatus": "Completed"})


@pytest.mark.scenario(27)
def test_a_corrupt_champion_scores_nothing(prefect_harness, homes, tmp_path, monkeypatch):
    from flows.score import score_flow
    from tests.reliability.harness import copy_home
    from tests.reliability.snapshots import snapshot

    home = copy_home(homes["train"][1], tmp_path / "home")
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    artifacts = list((homes["train"][1] / "mlartifacts").rglob("model.skops"))
    artifacts += list((homes["train"][1] / "mlartifacts").rglob("model.pkl"))
    assert artifacts, "no model files found to corrupt"
    saved = {p: p.read_bytes() for p in artifacts}
    try:
        for path in artifacts:
            path.write_bytes(b"corrupt")
        state = score_flow(return_state=True)
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
    assert state.is_failed() and "cannot be loaded, nothing was scored" in state.message
    assert snapshot(home / "warehouse.duckdb") == snapshot(homes["train"][1] / "warehouse.duckdb")
