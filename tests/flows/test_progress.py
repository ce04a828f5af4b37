"""Progress: units report long work; the CLI shows it on a TTY and stays quiet elsewhere."""

from __future__ import annotations

import io
import json

from rich.console import Console
from typer.testing import CliRunner

from flows.cli import app
from flows.terminal import progress_display, wants_progress
from tasks import progress


def test_steps_ingest_and_scoring_report_progress(tmp_path):
    events: list[tuple[str, int, int | None]] = []
    with progress.listening(lambda *event: events.append(event)):
        args = ["--customers=300", "--transactions=6000", "--snapshots=3", "--horizon-days=60"]
        result = CliRunner().invoke(app, ["bench", *args, "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    stages = list(dict.fromkeys(stage for stage, _, _ in events))
    for stage in ("ingest", "ingest (files)", "features", "train", "score", "score (customers)"):
        assert stage in stages, stages
    assert stages.index("ingest") < stages.index("features") < stages.index("score")
    scored = [done for stage, done, _ in events if stage == "score (customers)"]
    assert scored[-1] == json.loads(result.stdout)["steps"]["score"]["rows"]


def test_display_draws_the_current_stage_on_a_terminal():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress_display(console):
        progress.advance("features", 0, 4)
        progress.advance("BTYD fits (cut-offs)", 2, 4)
        console.file.flush()
    drawn = out.getvalue()
    assert "BTYD fits (cut-offs)" in drawn and "2/4" in drawn
    progress.advance("after", 1, 1)  # nobody listens any more: a no-op


def test_no_progress_in_ci_or_when_not_a_terminal(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert not wants_progress()
    monkeypatch.delenv("CI")
    monkeypatch.delenv("LIFELINE_NO_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # piped or redirected: not a TTY
    assert not wants_progress()
