"""Alerts the Prefect way: the flows emit events, automations (as code) notify a webhook block.

Four automations, created by `lifeline automations` in the deploy step:
- a Lifeline flow run failed or crashed (Prefect's own flow-run events, tag `lifeline`);
- drift above the threshold (our `lifeline.drift.detected` event);
- a quality gate failed (our `lifeline.quality.gate-failed` event);
- past scores fell short of their model's holdout (`lifeline.performance.below-holdout`).
Each sends to one CustomWebhookNotificationBlock whose URL comes from the environment. It
posts `{"text": ...}`, which is what a Slack incoming webhook takes, so the same block serves
Slack or any endpoint that accepts JSON.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

DRIFT_EVENT = "lifeline.drift.detected"
GATE_EVENT = "lifeline.quality.gate-failed"
PERFORMANCE_EVENT = "lifeline.performance.below-holdout"
WEBHOOK_VARIABLE = "LIFELINE_ALERT_WEBHOOK_URL"
LOG = logging.getLogger("lifeline.alerts")


def warehouse_resource(settings: Any) -> str:
    """The resource an alert is about: the Snowflake database, or the local warehouse."""
    if settings.target == "snowflake":
        return f"warehouse.{settings.snowflake_database.lower()}"
    return "warehouse.local"


def emit_alert_event(event: str, resource: str, payload: dict[str, Any]) -> None:
    """Emit a Prefect event for the automations; a run never fails because an event could not."""
    try:
        from prefect.events import emit_event

        emit_event(
            event=event,
            resource={
                "prefect.resource.id": f"lifeline.{resource}",
                "prefect.resource.name": resource,
            },
            payload=payload,
        )
    except Exception as exc:  # noqa: BLE001 - events are best effort; the run's own state stands
        LOG.warning("could not emit %s: %s", event, exc)


@dataclass(frozen=True)
class AlertRule:
    """One automation: which events trigger it and what the message says."""

    suffix: str
    events: tuple[str, ...]
    subject: str
    body: str
    tagged: bool = False  # only runs tagged `lifeline` (deployments are)


RULES = (
    AlertRule(
        "run failed",
        ("prefect.flow-run.Failed", "prefect.flow-run.Crashed"),
        "Lifeline: {{ flow.name }} run {{ flow_run.name }} {{ flow_run.state.name }}",
        "Flow run {{ flow_run.name }} ({{ flow.name }}"
        "{% if deployment %}/{{ deployment.name }}{% endif %}) ended "
        "{{ flow_run.state.name }}: {{ flow_run.state.message }}\n{{ flow_run|ui_url }}",
        tagged=True,
    ),
    AlertRule(
        "drift",
        (DRIFT_EVENT,),
        "Lifeline: drift on {{ event.resource['prefect.resource.name'] }}",
        "Drift at {{ event.payload.as_of }}: PSI above {{ event.payload.threshold }} for "
        "{{ event.payload.drifted | join(', ') }} (PSI {{ event.payload.psi_drifted }})",
    ),
    AlertRule(
        "quality gate failed",
        (GATE_EVENT,),
        "Lifeline: quality gate {{ event.payload.suite }} failed",
        "Suite {{ event.payload.suite }} failed on {{ event.payload.table }} "
        "(flow run {{ event.payload.run_id }}): {{ event.payload.checks }}",
    ),
    AlertRule(
        "realised performance",
        (PERFORMANCE_EVENT,),
        "Lifeline: scores of {{ event.payload.as_of }} fell short of their holdout",
        "Churn model v{{ event.payload.model_version }}, scored at {{ event.payload.as_of }}, "
        "against what customers then did: {{ event.payload.reason }}",
    ),
)


def automation_name(prefix: str, rule: AlertRule) -> str:
    """The automation's name: unique per environment, so re-deploys replace it."""
    return f"{prefix}: {rule.suffix}"


def build_automation(prefix: str, rule: AlertRule, block_id: Any) -> Any:
    """One Prefect automation for RULE, notifying through the block BLOCK_ID."""
    from prefect.automations import Automation, EventTrigger, SendNotification

    related = (
        {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.lifeline"}
        if rule.tagged
        else {}
    )
    return Automation(
        name=automation_name(prefix, rule),
        description=f"Lifeline alert ({rule.suffix}); created by `lifeline automations`.",
        trigger=EventTrigger(
            expect=set(rule.events),
            match_related=related,
            posture="Reactive",
            threshold=1,
            within=0,
        ),
        actions=[
            SendNotification(block_document_id=block_id, subject=rule.subject, body=rule.body)
        ],
    )


def save_alert_block(url: str, name: str) -> Any:
    """The webhook block (URL kept as a secret value); returns its document id."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(
        name=name,
        url="{{ webhook_url }}",
        json_data={"text": "*{{ subject }}*\n{{ body }}"},
        secrets={"webhook_url": url},
    )
    return block.save(name, overwrite=True)


def create_automations(prefix: str = "lifeline", url: str | None = None) -> list[str]:
    """Create (or replace) the alert block and the automations; their names."""
    from prefect.client.orchestration import get_client

    url = url or os.environ.get(WEBHOOK_VARIABLE)
    if not url:
        raise ValueError(
            f"{WEBHOOK_VARIABLE} is not set: the Slack incoming-webhook URL (or any URL taking "
            "JSON) the alerts go to"
        )
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"{WEBHOOK_VARIABLE} must be an http(s) URL")
    block_id = save_alert_block(url, f"{prefix}-alerts")
    names = []
    with get_client(sync_client=True) as client:
        for rule in RULES:
            name = automation_name(prefix, rule)
            for old in client.read_automations_by_name(name=name):
                client.delete_automation(old.id)  # a re-deploy replaces, never duplicates
            build_automation(prefix, rule, block_id).create()
            names.append(name)
    return names
