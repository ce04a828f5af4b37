"""Prefect artifacts from plain functions: attached inside a flow run, skipped outside one."""

from __future__ import annotations

import sys


def in_flow_run() -> bool:
    """Whether a Prefect flow run is active (never imports Prefect just to find out)."""
    if "prefect" not in sys.modules:  # the bench and crash harness run without Prefect
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def publish_markdown(key: str, markdown: str) -> None:
    """Attach a markdown artifact to the current flow run."""
    if in_flow_run():
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown=markdown, key=key)


def publish_table(key: str, rows: list[dict], description: str | None = None) -> None:
    """Attach a table artifact to the current flow run."""
    if in_flow_run():
        from prefect.artifacts import create_table_artifact

        create_table_artifact(key=key, table=rows, description=description)
