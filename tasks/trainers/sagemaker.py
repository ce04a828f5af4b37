"""SageMaker trainer: the shared model code, run in the flow image as a training job.

The job runs the image the ECS flows run (`deployments/Dockerfile`, pushed to ECR by the
image workflow): the same Python and the same locked scikit-learn that later unpickles the
models. The scikit-learn framework images cannot install our pins (e.g. 1.4-2 is Python 3.10,
and scikit-learn 1.9 needs 3.11).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from tasks.modeling import ModelConfig, TrainResult
from tasks.trainers.base import TrainerUnavailableError
from tasks.trainers.sagemaker_entry import MODEL_FILE

if TYPE_CHECKING:
    from tasks.features import TrainingSet
    from tasks.warehouse import Warehouse

# The container's command: our entry point, with the code already in the image.
ENTRYPOINT = ["python", "-m", "tasks.trainers.sagemaker_entry"]
TERMINAL = {"Completed", "Failed", "Stopped"}
THROTTLING = {"ThrottlingException", "Throttling", "TooManyRequestsException"}


class TrainingJobError(RuntimeError):
    """A training job ended without a model; the message carries SageMaker's reason."""


@dataclass(frozen=True)
class JobSpec:
    """Where one training job reads and writes."""

    name: str
    bucket: str
    prefix: str

    @property
    def train_uri(self) -> str:
        """S3 prefix of the training channel."""
        return f"s3://{self.bucket}/{self.prefix}/training/{self.name}/train/"

    @property
    def checkpoint_uri(self) -> str:
        """S3 prefix the job checkpoints to, so a stopped (spot) job can resume."""
        return f"s3://{self.bucket}/{self.prefix}/checkpoints/{self.name}/"

    @property
    def output_uri(self) -> str:
        """S3 prefix SageMaker writes model.tar.gz under."""
        return f"s3://{self.bucket}/{self.prefix}/models/"


def job_name(training_set: pd.DataFrame, config: ModelConfig, horizon_days: int) -> str:
    """Deterministic per data and config: a retried flow attaches to the same job."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(training_set, index=False).values)
    digest.update(json.dumps([config.model_dump(mode="json"), horizon_days]).encode())
    return f"lifeline-train-{digest.hexdigest()[:20]}"


class SageMakerTrainer:
    """Writes the training set to S3, runs a training job, fetches model.tar.gz."""

    name = "sagemaker"

    def __init__(
        self,
        settings: Any,
        sagemaker_client: Any = None,
        s3_client: Any = None,
        poll_seconds: float = 30.0,
    ) -> None:
        self.settings = settings
        self._sm, self._s3 = sagemaker_client, s3_client
        self.poll_seconds = poll_seconds

    @property
    def sm(self) -> Any:
        """SageMaker client with explicit timeouts and standard retries."""
        if self._sm is None:
            import boto3

            from tasks.s3 import S3_CONFIG

            self._sm = boto3.client(
                "sagemaker", region_name=self.settings.aws_region, config=S3_CONFIG
            )
        return self._sm

    @property
    def s3(self) -> Any:
        """S3 client with explicit timeouts."""
        if self._s3 is None:
            from tasks.s3 import s3_client

            self._s3 = s3_client()
        return self._s3

    def preflight(self) -> None:
        """Fail before any data moves when the bucket, role or credentials are missing."""
        missing = [
            name
            for name, value in (
                ("LIFELINE_S3_BUCKET", self.settings.s3_bucket),
                ("LIFELINE_SAGEMAKER_ROLE_ARN", self.settings.sagemaker_role_arn),
                ("LIFELINE_SAGEMAKER_IMAGE_URI", self.settings.sagemaker_image_uri),
            )
            if not value
        ]
        if missing:
            raise TrainerUnavailableError(f"trainer 'sagemaker' needs {', '.join(missing)}")
        import boto3

        if boto3.Session().get_credentials() is None:
            raise TrainerUnavailableError("trainer 'sagemaker' found no AWS credentials")

    def fit(self, wh: Warehouse, training_set: TrainingSet, config: ModelConfig) -> TrainResult:
        """Fetch the training set through the warehouse port and train it in a job."""
        return self.train(training_set.fetch(wh), config, training_set.horizon_days)

    def train(
        self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int
    ) -> TrainResult:
        """Submit (or attach to) the job, wait for it, and load its models."""
        spec = self.submit(training_set, config, horizon_days)
        return self.fetch(self.wait(spec.name))

    def spec_for(self, name: str) -> JobSpec:
        """Bucket and prefix of a job from settings."""
        return JobSpec(name, self.settings.s3_bucket, self.settings.s3_prefix.strip("/"))

    def submit(self, training_set: pd.DataFrame, config: ModelConfig, horizon_days: int) -> JobSpec:
        """Upload the data, then create the job; an existing job of that name is reused."""
        from botocore.exceptions import ClientError

        from tasks.s3 import split_uri

        spec = self.spec_for(job_name(training_set, config, horizon_days))
        bucket, key = split_uri(spec.train_uri + "training_set.parquet")
        buffer = io.BytesIO()
        training_set.to_parquet(buffer, index=False)
        self.s3.put_object(Bucket=bucket, Key=key, Body=buffer.getvalue())
        hyper = {k: json.dumps(v) for k, v in config.model_dump(mode="json").items()}
        hyper["horizon_days"] = str(horizon_days)
        try:
            self.sm.create_training_job(
                TrainingJobName=spec.name,
                AlgorithmSpecification={
                    "TrainingImage": self.settings.sagemaker_image_uri,
                    "TrainingInputMode": "File",
                    "ContainerEntrypoint": ENTRYPOINT,
                },
                RoleArn=self.settings.sagemaker_role_arn,
                HyperParameters=hyper,
                InputDataConfig=[
                    {
                        "ChannelName": "train",
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri": spec.train_uri,
                                "S3DataDistributionType": "FullyReplicated",
                            }
                        },
                        "ContentType": "application/x-parquet",
                    }
                ],
                OutputDataConfig={"S3OutputPath": spec.output_uri},
                ResourceConfig={
                    "InstanceType": self.settings.sagemaker_instance_type,
                    "InstanceCount": 1,
                    "VolumeSizeInGB": 30,
                },
                StoppingCondition=self.stopping_condition(),
                EnableManagedSpotTraining=self.settings.sagemaker_use_spot,
                CheckpointConfig={"S3Uri": spec.checkpoint_uri, "LocalPath": "/opt/ml/checkpoints"},
                Tags=[{"Key": "project", "Value": "lifeline"}],
            )
        except ClientError as exc:
            # A retried flow must not start a second job (docs/reliability.md, scenario 25).
            if (
                exc.response["Error"]["Code"] not in ("ResourceInUse", "ValidationException")
                or "already" not in str(exc).lower()
                and "in use" not in str(exc).lower()
            ):
                raise
        return spec

    def stopping_condition(self) -> dict[str, int]:
        """Run time cap; spot jobs also get a wait cap (run time + time waiting for capacity)."""
        limits = {"MaxRuntimeInSeconds": self.settings.sagemaker_max_runtime_s}
        if self.settings.sagemaker_use_spot:
            limits["MaxWaitTimeInSeconds"] = self.settings.sagemaker_max_wait_s
        return limits

    def wait(self, name: str) -> dict:
        """Poll until the job ends, within our own deadline; raise with SageMaker's reason."""
        deadline = time.monotonic() + self.settings.sagemaker_max_wait_s
        throttled = 0
        while True:
            job = self.describe(name)
            if job is None:  # throttled: back off (with jitter) but never past our deadline
                throttled += 1
                delay = min(self.poll_seconds * 2**throttled, 300) * random.uniform(0.5, 1.0)
                if time.monotonic() + delay > deadline:
                    raise TrainingJobError(f"training job {name}: throttled past our deadline")
                time.sleep(delay)
                continue
            throttled = 0
            status = job["TrainingJobStatus"]
            if status == "Completed":
                return job
            if status in TERMINAL:
                reason = job.get("FailureReason") or job.get("SecondaryStatus") or "no reason"
                raise TrainingJobError(f"training job {name} {status.lower()}: {reason}")
            if time.monotonic() > deadline:
                raise TrainingJobError(
                    f"training job {name} still {status} after "
                    f"{self.settings.sagemaker_max_wait_s} s (our deadline); not waiting longer"
                )
            time.sleep(self.poll_seconds)

    def describe(self, name: str) -> dict | None:
        """describe_training_job, or None when SageMaker throttles us."""
        from botocore.exceptions import ClientError

        try:
            return self.sm.describe_training_job(TrainingJobName=name)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in THROTTLING:
                return None
            raise

    def fetch(self, job: dict) -> TrainResult:
        """Download model.tar.gz and load the TrainResult the entry point wrote."""
        import joblib
        from botocore.exceptions import ClientError

        from tasks.s3 import split_uri

        uri = job["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, key = split_uri(uri)
        with tempfile.TemporaryDirectory(prefix="lifeline-model-") as tmp:
            archive = Path(tmp) / "model.tar.gz"
            try:
                self.s3.download_file(bucket, key, str(archive))
                with tarfile.open(archive) as tar:
                    member = tar.getmember(MODEL_FILE)  # only the file we wrote, nothing else
                    tar.extract(member, tmp, filter="data")
                result = joblib.load(Path(tmp) / MODEL_FILE)
            except (ClientError, tarfile.TarError, KeyError, EOFError, ValueError) as exc:
                raise TrainingJobError(
                    f"{job['TrainingJobName']}: model artifact {uri} is missing or corrupt "
                    f"({type(exc).__name__}: {exc})"
                ) from None
        if not isinstance(result, TrainResult):
            raise TrainingJobError(f"{job['TrainingJobName']}: artifact is not a Lifeline model")
        return result
