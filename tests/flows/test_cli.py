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
        (["run", "--source", "no/such/log.csv"], "no/such/log.csv: no files found"),
        (["ingest", "no/such/folder"], "no/such/folder: no files found"),
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


def test_a_local_file_of_unknown_kind_fails_before_prefect_starts(tmp_path, monkeypatch):
    import flows.cli

    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "log.csv").write_text("cust,date,value\n")
    (tmp_path / "drop" / "notes.docx").write_text("minutes")
    monkeypatch.setattr(flows.cli, "run_flow", lambda *a: pytest.fail("the flow started"))
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "drop")])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path}/drop/notes.docx: not a CSV or Parquet file "
        "(expected .csv, .tsv or .txt, optionally .gz, or .parquet)"
    )


def test_generate_writes_a_portfolio(tmp_path):
    result = CliRunner().invoke(
        app,
        ["generate", "--customers", "50", "--transactions", "2000", "--out", str(tmp_path / "p")],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "customers" / "customers.parquet").exists()
    assert list((tmp_path / "p" / "transactions").glob("*.parquet"))


def test_summary_lists_every_candidate_and_ends_with_next_steps(tmp_path, monkeypatch, capsys):
    from flows.cli import print_summary

    monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / "h"))
    metrics = {
        "churn_roc_auc": 0.9,
        "churn_ece": 0.01,
        "churn_baseline_roc_auc": 0.8,
        "churn_baseline_ece": 0.02,
        "churn_booster_roc_auc": 0.9,
        "churn_booster_ece": 0.01,
        "churn_bgnbd_roc_auc": 0.8,
        "churn_bgnbd_ece": 0.02,
        "clv_rmse": 10.0,
        "clv_spearman": 0.7,
        "clv_blend_trailing_spend_rmse": 10.0,
        "clv_blend_trailing_spend_spearman": 0.7,
    }
    print_summary({"metrics": metrics, "serving": ["gradient boosting serves: best"]})
    out = capsys.readouterr().out.splitlines()
    churn = next(line for line in out if "churn holdout" in line)
    assert "booster 0.900/0.010" in churn and "bgnbd 0.800/0.020" in churn
    assert "baseline" not in churn  # the served/baseline aliases are not candidates
    assert "blend_trailing_spend 10.0/0.700" in next(line for line in out if "CLV holdout" in line)
    assert "  serving       gradient boosting serves: best" in out
    assert out[-4] == "Next:" and str(tmp_path / "h" / "mlflow.db") in out[-2]
    assert "--home" in out[-1] and "--column customer_id=ID" in out[-1]
