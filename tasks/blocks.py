"""Create the Prefect blocks the deployments use, from environment variables only."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import SecretBytes, SecretStr

from tasks.guard import publish_limit_name
from tasks.identifiers import validate_identifier

REQUIRED = ("SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PRIVATE_KEY", "LIFELINE_S3_BUCKET")


@dataclass(frozen=True)
class BlockNames:
    """Names of the blocks for one environment (prefect.yaml refers to them)."""

    env: str

    @property
    def snowflake_credentials(self) -> str:
        """SnowflakeCredentials block (key-pair auth)."""
        return f"lifeline-{self.env}-credentials"

    @property
    def snowflake_connector(self) -> str:
        """SnowflakeConnector block: LIFELINE_SNOWFLAKE_CONNECTOR_BLOCK."""
        return f"lifeline-{self.env}"

    @property
    def aws_credentials(self) -> str:
        """AwsCredentials block (region only: the role or default chain supplies keys)."""
        return f"lifeline-{self.env}-aws"

    @property
    def results_bucket(self) -> str:
        """S3Bucket block for Prefect result storage: LIFELINE_RESULT_STORAGE."""
        return f"lifeline-{self.env}-results"


def create_blocks(env: str, environ: dict[str, str] | None = None) -> BlockNames:
    """Save Snowflake, AWS and S3 blocks for ENV; values come only from the environment."""
    from prefect_aws import AwsCredentials, S3Bucket
    from prefect_snowflake import SnowflakeConnector, SnowflakeCredentials

    environ = dict(os.environ if environ is None else environ)
    missing = [k for k in REQUIRED if not environ.get(k)]
    if missing:
        raise ValueError(f"set {', '.join(missing)} to create the blocks")
    names = BlockNames(validate_identifier(env, 1).lower())
    database = environ.get("LIFELINE_SNOWFLAKE_DATABASE", f"LIFELINE_{env.upper()}")
    passphrase = environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    credentials = SnowflakeCredentials(
        account=environ["SNOWFLAKE_ACCOUNT"],
        user=environ["SNOWFLAKE_USER"],
        private_key=SecretBytes(environ["SNOWFLAKE_PRIVATE_KEY"].encode()),
        private_key_passphrase=SecretStr(passphrase) if passphrase else None,
        role=environ.get("SNOWFLAKE_ROLE"),
    )
    credentials.save(names.snowflake_credentials, overwrite=True)
    SnowflakeConnector(
        credentials=credentials,
        database=database,
        warehouse=environ.get("LIFELINE_SNOWFLAKE_WAREHOUSE", f"LIFELINE_{env.upper()}_WH"),
        schema="RAW",
    ).save(names.snowflake_connector, overwrite=True)
    aws = AwsCredentials(region_name=environ.get("AWS_REGION", "us-east-1"))
    aws.save(names.aws_credentials, overwrite=True)
    S3Bucket(
        bucket_name=environ["LIFELINE_S3_BUCKET"], credentials=aws, bucket_folder="prefect-results"
    ).save(names.results_bucket, overwrite=True)
    ensure_publish_limit(publish_limit_name(database))
    return names


def ensure_publish_limit(name: str) -> None:
    """Create the global concurrency limit (1) that serialises publishing runs, if missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
