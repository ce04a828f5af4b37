"""The CLI: bad input fails fast with one line and writes nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app


@pytest.mark.scenario(28)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--trainer", "nonsense"], "--trainer must be one of local, snowpark, sagemaker"),
        (["run", "--as-of", "not-a-date"], "--as-of must be a date"),
        (["run", "--column", "amount"], "--column takes ROLE=NAME"),
        (["run", "--column", "colour=x"], "unknown column role 'colour'"),
        (["train", "--trainer", "sagemkr"], "--trainer must be one of"),
        (["score", "--as-of", "2025-13-01"], "--as-of must be a date"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, message):
    home = tmp_path / "home"
    result = CliRunner().invoke(app, [*args, "--home", str(home)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.output
    assert not home.exists()


def test_generate_writes_a_portfolio(tmp_path):
    result = CliRunner().invoke(
        app,
        ["generate", "--customers", "50", "--transactions", "2000", "--out", str(tmp_path / "p")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "customers" / "customers.parquet").exists()
    assert list((tmp_path / "p" / "transactions").glob("*.parquet"))
