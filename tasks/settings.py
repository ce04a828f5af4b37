"""Environment settings (pydantic-settings, prefix LIFELINE_), resolved only when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from tasks.policy import Policy


class LifelineSettings(BaseSettings):
    """Where Lifeline runs and what it connects to."""

    model_config = SettingsConfigDict(env_prefix="LIFELINE_", extra="ignore")

    target: Literal["local", "snowflake"] = "local"
    home: Path = Path(".lifeline")

    # Snowflake: a prefect-snowflake SnowflakeConnector block, or a connections.toml entry,
    # or the explicit key-pair fields below (the first one set wins, in that order).
    snowflake_connector_block: str | None = None
    snowflake_connection_name: str | None = None
    snowflake_account: str | None = None
    snowflake_user: str | None = None
    snowflake_private_key_path: Path | None = None
    snowflake_private_key_passphrase: SecretStr | None = None
    snowflake_role: str | None = None
    snowflake_warehouse: str | None = None
    snowflake_database: str = "LIFELINE"
    snowflake_statement_timeout_s: int = Field(3600, ge=1)
    snowflake_network_timeout_s: int = Field(120, ge=1)
    # The external stage Terraform made on the landing prefix: S3 files load by COPY INTO
    # from it, straight from S3, instead of through the worker and PUT.
    snowflake_landing_stage: str | None = None
    snowflake_landing_url: str | None = None

    # Snowpark trainer: internal stage for models; an artifact repository (e.g.
    # snowflake.snowpark.pypi_shared_repository) when the Anaconda channel lacks a pinned version.
    snowpark_stage: str = "@ML.LIFELINE_MODELS"
    snowpark_artifact_repository: str | None = None

    # The business policy file (default ./lifeline.toml when present; see tasks/policy.py).
    policy_file: Path | None = None

    # Seconds a run waits for another run publishing to the same warehouse (0 = fail fast).
    lock_wait_s: float = Field(0, ge=0)

    # DuckDB's buffer pool defaults to 80 % of RAM; cap it so the whole run stays small.
    duckdb_memory_limit: str = "3GB"
    # DuckDB has no server-side statement timeout: a watchdog interrupts the connection.
    duckdb_statement_timeout_s: float = Field(3600, gt=0)

    # MLflow: defaults to a sqlite file under home.
    mlflow_tracking_uri: str | None = None

    # AWS / SageMaker (trainer=sagemaker).
    aws_region: str = "us-east-1"
    s3_bucket: str | None = None
    s3_prefix: str = "lifeline"
    sagemaker_role_arn: str | None = None
    sagemaker_instance_type: str = "ml.m5.xlarge"
    # The flow image in ECR (deployments/Dockerfile): training runs the locked dependencies.
    sagemaker_image_uri: str | None = None
    sagemaker_max_runtime_s: int = Field(2 * 3600, ge=60)
    sagemaker_max_wait_s: int = Field(3 * 3600, ge=60)  # our poll deadline; spot wait cap
    sagemaker_use_spot: bool = False

    @field_validator("snowflake_database", "snowflake_role", "snowflake_warehouse")
    @classmethod
    def check_identifier(cls, value: str | None) -> str | None:
        """Names that end up in SQL are validated before any connection is opened."""
        from tasks.identifiers import validate_identifier

        return None if value is None else validate_identifier(value, 1)

    @field_validator("snowflake_landing_stage")
    @classmethod
    def check_stage(cls, value: str | None) -> str | None:
        """SCHEMA.STAGE in the run's database, validated like any name that reaches SQL."""
        from tasks.identifiers import validate_identifier

        return validate_identifier(value, 2) if value else None  # "" = no stage (local runs)

    @field_validator("snowflake_landing_url")
    @classmethod
    def check_landing_url(cls, value: str | None) -> str | None:
        """The stage's s3:// URL, kept with one trailing slash so prefixes compare cleanly."""
        if not value:
            return None
        if not value.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {value}")
        return value.rstrip("/") + "/"

    def load_policy(self) -> Policy:
        """The validated business policy (defaults where the file is silent)."""
        from tasks.policy import load_policy

        return load_policy(self.policy_file)

    @property
    def home_dir(self) -> Path:
        """The absolute home folder (created on first use)."""
        path = self.home.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def duckdb_path(self) -> Path:
        """The embedded warehouse file."""
        return self.home_dir / "warehouse.duckdb"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI (sqlite under home unless configured)."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Where local MLflow artifacts go."""
        return self.home_dir / "mlartifacts"


def load_settings(**overrides: object) -> LifelineSettings:
    """Read settings from the environment, with explicit overrides (e.g. CLI --home) on top."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return LifelineSettings(**clean)
