"""Prefect blocks are created from the environment, and the private key never leaks."""

from __future__ import annotations

import pytest
from prefect.client.orchestration import get_client

from tasks.blocks import create_blocks

CANARY = "-----BEGIN PRIVATE KEY-----CANARY-7f3a9c-----END PRIVATE KEY-----"


@pytest.mark.scenario(29)
def test_blocks_round_trip_and_hide_the_key(prefect_harness):
    from prefect_aws import S3Bucket
    from prefect_snowflake import SnowflakeConnector

    names = create_blocks(
        "dev",
        {
            "SNOWFLAKE_ACCOUNT": "acme-lifeline",
            "SNOWFLAKE_USER": "LIFELINE_DEV_PREFECT",
            "SNOWFLAKE_PRIVATE_KEY": CANARY,
            "SNOWFLAKE_ROLE": "LIFELINE_DEV_ML",
            "LIFELINE_S3_BUCKET": "lifeline-dev-data-123",
        },
    )
    connector = SnowflakeConnector.load(names.snowflake_connector)
    assert connector.credentials.user == "LIFELINE_DEV_PREFECT"
    assert connector.credentials.private_key.get_secret_value() == CANARY.encode()
    assert CANARY not in repr(connector) and CANARY not in str(connector.model_dump())
    assert S3Bucket.load(names.results_bucket).bucket_name == "lifeline-dev-data-123"
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("lifeline-publish-lifeline_dev")
    assert limit.limit == 1


def test_missing_environment_is_a_clear_error():
    with pytest.raises(ValueError, match="SNOWFLAKE_PRIVATE_KEY"):
        create_blocks(
            "dev", {"SNOWFLAKE_ACCOUNT": "a", "SNOWFLAKE_USER": "u", "LIFELINE_S3_BUCKET": "b"}
        )
