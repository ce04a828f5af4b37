"""Bad data never reaches a published table: empty, drifted, mistyped, null, truncated suites."""

from __future__ import annotations

import json

import pytest

from tasks import ingest, quality
from tasks.ingest import loading
from tests.tasks.test_ingest import LOG, load, write
from tests.tasks.test_quality import MAX_TS, evaluate, gx_verdicts, raw_rows


@pytest.fixture
def no_publish(monkeypatch):
    """Count calls of the transaction publish step (it must never be reached)."""
    calls = []
    real = loading.publish_transactions
    monkeypatch.setattr(
        loading, "publish_transactions", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    return calls


@pytest.mark.scenario(6)
def test_empty_extract_is_refused_and_nothing_is_published(wh, tmp_path, no_publish):
    with pytest.raises(ingest.IngestError, match="no data rows"):
        load(wh, write(tmp_path, "empty.csv", "cust,date,value\n"))
    assert no_publish == [] and wh.row_count("RAW.TRANSACTIONS") == 0
    empty = raw_rows().head(0)
    assert all(gx_verdicts("raw_transactions", empty, MAX_TS)[1:])  # GX alone: passes
    result = evaluate(wh, "raw_transactions", empty, MAX_TS)
    assert not result.success  # our suite's row-count floor catches it
    assert result.blocking[0].label == "expect_table_row_count_to_be_between"


@pytest.mark.scenario(7)
def test_missing_or_renamed_column_names_the_column(wh, tmp_path, no_publish):
    renamed = LOG.replace("value", "amount_usd")
    with pytest.raises(ingest.IngestError, match="'value'"):
        load(wh, write(tmp_path, "renamed.csv", renamed))
    assert no_publish == [] and wh.row_count("RAW.TRANSACTIONS") == 0
    result = evaluate(wh, "raw_transactions", raw_rows().drop(columns="CUSTOMER_ID"), MAX_TS)
    assert "missing column(s) ['CUSTOMER_ID']" in quality.failure_message(result)


@pytest.mark.scenario(8)
def test_amounts_arriving_as_text_are_refused(wh, tmp_path, no_publish):
    text = "cust,date,value\nA,19970101,12.50\nB,19970102,twelve\n"
    with pytest.raises(ingest.IngestError, match="row 2: column amount"):
        load(wh, write(tmp_path, "typed.csv", text))
    assert no_publish == [] and wh.row_count("RAW.TRANSACTIONS") == 0
    result = evaluate(wh, "raw_transactions", raw_rows().assign(AMOUNT="12.50"), MAX_TS)
    assert "column AMOUNT has type text, expected number" in quality.failure_message(result)


@pytest.mark.scenario(9)
def test_empty_or_truncated_suites_are_refused(tmp_path, monkeypatch):
    suite = json.loads((quality.EXPECTATIONS_DIR / "raw_transactions.json").read_text())
    monkeypatch.setattr(quality, "EXPECTATIONS_DIR", tmp_path)
    (tmp_path / "raw_transactions.json").write_text(json.dumps({**suite, "expectations": []}))
    with pytest.raises(quality.QualityGateError, match="no expectations"):
        quality.load_suite("raw_transactions")
    truncated = {**suite, "expectations": suite["expectations"][:3]}
    (tmp_path / "raw_transactions.json").write_text(json.dumps(truncated))
    with pytest.raises(quality.QualityGateError, match="3 expectations, expected at least 8"):
        quality.load_suite("raw_transactions")


@pytest.mark.scenario(10)
def test_null_customer_ids_fail_with_the_failing_rows(wh):
    frame = raw_rows()
    frame.loc[[2, 7], "CUSTOMER_ID"] = None
    result = evaluate(wh, "raw_transactions", frame, MAX_TS)
    failed = {r.label: r for r in result.blocking}
    null_check = failed["expect_column_values_to_not_be_null(CUSTOMER_ID)"]
    assert null_check.unexpected_count == 2
    assert null_check.examples == [{"TRANSACTION_ID": "T2"}, {"TRANSACTION_ID": "T7"}]
    assert "2 row(s), e.g. TRANSACTION_ID='T2', 'T7'" in quality.failure_message(result)
