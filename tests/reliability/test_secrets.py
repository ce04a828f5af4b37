"""Secrets never appear in logs, errors, flow parameters, artifacts or reprs."""

from __future__ import annotations

import asyncio
import time

import pytest

from tasks.settings import load_settings
from tests.reliability.report import CANARIES

pytestmark = pytest.mark.scenario(29)
CANARY = CANARIES[0]  # LIFELINE_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, planted by tests/conftest.py


def test_settings_hide_the_passphrase_everywhere_it_could_print():
    settings = load_settings(target="snowflake", snowflake_account="acme", snowflake_user="u")
    assert settings.snowflake_private_key_passphrase.get_secret_value() == CANARY
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(vars(settings))):
        assert CANARY not in text


def test_a_failed_key_pair_connection_does_not_echo_the_passphrase(tmp_path):
    from tasks.warehouse.snowflake import connect_snowflake

    key = tmp_path / "rsa_key.p8"
    key.write_text(
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nnot a key\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    settings = load_settings(
        target="snowflake",
        snowflake_account="acme",
        snowflake_user="u",
        snowflake_private_key_path=key,
        snowflake_network_timeout_s=1,
    )
    with pytest.raises(Exception) as caught:  # noqa: PT011 - any failure; we check its text
        connect_snowflake(settings)
    assert CANARY not in str(caught.value) and CANARY not in repr(caught.value)


async def run_record(run_id) -> tuple:
    """Logs, parameters and artifacts of a flow run, read back through the Prefect API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        run = await client.read_flow_run(run_id)
        logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
    return run, logs, artifacts


@pytest.mark.parametrize("source", ["good", "bad"])
def test_flow_runs_with_secrets_in_the_environment_never_record_them(
    prefect_harness, home, tmp_path, source, monkeypatch
):
    from flows.ingest import ingest_flow

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY)
    path = tmp_path / "t.csv"
    rows = "A,2025-01-01,1\n" if source == "good" else "A,2025-01-01,twelve\n"  # fails
    path.write_text("customer_id,txn_ts,amount\n" + rows)
    state = ingest_flow(source=str(path), return_state=True)
    assert state.is_completed() == (source == "good")
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()  # logs reach the API in batches
    deadline = time.monotonic() + 30
    while True:
        run, logs, artifacts = asyncio.run(run_record(state.state_details.flow_run_id))
        if logs or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert logs, "the run logged nothing: nothing was checked"
    recorded = [str(run.parameters), state.message or "", *(log.message for log in logs)]
    recorded += [str(a.data) for a in artifacts]
    for text in recorded:
        assert CANARY not in text
