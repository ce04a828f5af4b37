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


def test_runs_through_the_block_lock_the_database_it_connects_to_and_keep_deadlines(
    prefect_harness, monkeypatch
):
    import fakesnow
    import snowflake.connector
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tasks.errors import ConfigurationError
    from tasks.settings import load_settings
    from tasks.warehouse.snowflake import connect_snowflake

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    environ = {
        "SNOWFLAKE_ACCOUNT": "acme-lifeline",
        "SNOWFLAKE_USER": "LIFELINE_DEV_PREFECT",
        "SNOWFLAKE_PRIVATE_KEY": key.decode(),
        "LIFELINE_S3_BUCKET": "lifeline-dev-data-123",
    }
    names = create_blocks("dev", environ)
    monkeypatch.setenv("LIFELINE_TARGET", "snowflake")
    monkeypatch.setenv("LIFELINE_SNOWFLAKE_CONNECTOR_BLOCK", names.snowflake_connector)

    # The default database (LIFELINE) is not the block's (LIFELINE_DEV): the lock would differ.
    monkeypatch.delenv("LIFELINE_SNOWFLAKE_DATABASE", raising=False)
    with pytest.raises(ConfigurationError, match="LIFELINE_SNOWFLAKE_DATABASE=LIFELINE_DEV"):
        connect_snowflake(load_settings())

    monkeypatch.setenv("LIFELINE_SNOWFLAKE_DATABASE", "LIFELINE_DEV")
    seen = {}
    with fakesnow.patch():
        fake = snowflake.connector.connect

        def recording(**kwargs):
            seen.update(kwargs)
            return fake(**kwargs)

        # set and restored inside fakesnow's patch, which restores the real connect on exit
        snowflake.connector.connect = recording
        try:
            connect_snowflake(load_settings()).close()
        finally:
            snowflake.connector.connect = fake
    assert seen["database"] == "LIFELINE_DEV"
    assert seen["network_timeout"] > 0
    assert seen["session_parameters"]["STATEMENT_TIMEOUT_IN_SECONDS"] > 0
