"""Alert automations as code: created on the Prefect API, replaced (not duplicated) on re-deploy.

That they fire and what they send is checked end to end by the rehearsal (make test-e2e),
which receives them on a local webhook.
"""

from __future__ import annotations

import pytest

from tasks.alerts import DRIFT_EVENT, GATE_EVENT, RULES, create_automations

URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


def read_automations(prefix: str) -> dict:
    """The automations on the API whose names start with PREFIX, by name."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return {a.name: a for a in client.read_automations() if a.name.startswith(prefix)}


def test_automations_are_created_once_and_notify_the_webhook_block(prefect_harness):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    names = create_automations("lifeline-test", URL)
    assert create_automations("lifeline-test", URL) == names  # a re-deploy replaces them
    found = read_automations("lifeline-test")
    assert sorted(found) == sorted(names) and len(found) == len(RULES) == 4
    block = CustomWebhookNotificationBlock.load("lifeline-test-alerts")
    assert block.secrets.get_secret_value() == {"webhook_url": URL}
    assert URL not in block.url and block.json_data == {"text": "*{{ subject }}*\n{{ body }}"}
    expected = {
        "lifeline-test: run failed": {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
        "lifeline-test: drift": {DRIFT_EVENT},
        "lifeline-test: quality gate failed": {GATE_EVENT},
    }
    for name, events in expected.items():
        automation = found[name]
        assert automation.trigger.expect == events and automation.enabled
        [action] = automation.actions
        assert action.type == "send-notification"
        assert action.block_document_id == block._block_document_id
    failed = found["lifeline-test: run failed"].trigger.match_related.root
    assert failed == {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.lifeline"}


@pytest.mark.parametrize(
    ("url", "message"),
    [(None, "LIFELINE_ALERT_WEBHOOK_URL is not set"), ("ftp://x", "must be an http")],
)
def test_missing_or_odd_webhook_is_one_clear_error(monkeypatch, url, message):
    monkeypatch.delenv("LIFELINE_ALERT_WEBHOOK_URL", raising=False)
    with pytest.raises(ValueError, match=message):
        create_automations("lifeline-test", url)
