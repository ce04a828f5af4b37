"""`lifeline bench` prints valid JSON with every stage timed and counted."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app

STEPS = {
    "generate",
    "ingest",
    "quality_raw",
    "features",
    "quality_features",
    "publish_features",
    "train",
    "register",
    "score",
    "quality_scores",
    "publish",
}


def test_bench_json(tmp_path, monkeypatch):
    monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / "unused"))
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--customers",
            "600",
            "--transactions",
            "60000",
            "--snapshots",
            "5",
            "--home",
            str(tmp_path / "bench"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["steps"]) == STEPS
    for name, step in report["steps"].items():
        assert step["seconds"] > 0 and step["rows"] > 0, name
    assert report["reference"]["aggregate_seconds"] > 0
    assert report["reference"]["pandas_aggregate_seconds"] > 0
    assert report["peak_rss_bytes"] > 0 and report["machine"]["cpus"] >= 1
    assert report["transactions"] == report["steps"]["ingest"]["rows"]
