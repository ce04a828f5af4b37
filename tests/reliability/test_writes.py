"""Write paths: re-runs, failed publishes, transactions, duplicate keys, names, overwrite."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from tasks.warehouse import DDLInTransactionError
from tasks.warehouse.base import DuplicateKeyError
from tests.reliability.crash_child import run_step
from tests.reliability.harness import copy_home
from tests.reliability.snapshots import snapshot
from tests.tasks.warehouse.test_contract import scores, warehouse  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
DDL_NODES = (exp.Create, exp.Drop, exp.Alter, exp.TruncateTable)


@pytest.mark.scenario(1)
@pytest.mark.parametrize("step", ["ingest", "features", "scores"])
def test_three_reruns_lose_and_duplicate_nothing(homes, portfolio, tmp_path, step):
    home = copy_home(homes[step][1], tmp_path / "home")
    done = snapshot(home / "warehouse.duckdb")
    for _ in range(3):
        run_step(step, str(home), str(portfolio))
        assert snapshot(home / "warehouse.duckdb") == done


@pytest.mark.scenario(3)
def test_error_between_delete_and_insert_rolls_back(prefect_harness, homes, tmp_path, monkeypatch):
    from flows.features import features_flow

    home = copy_home(homes["features"][1], tmp_path / "home")
    before = snapshot(home / "warehouse.duckdb")
    assert before["FEATURES.CUSTOMER_FEATURES"][0] > 0
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    monkeypatch.setenv("LIFELINE_FAILPOINT", "features.inside_publish:raise")
    state = features_flow(horizon_days=60, train_snapshots=3, return_state=True)
    assert state.is_failed() and "failpoint features.inside_publish fired" in state.message
    assert snapshot(home / "warehouse.duckdb") == before  # the DELETE was rolled back


def ddl_inside_transactions(sql: str) -> list[str]:
    """Statements of SQL that are DDL between a BEGIN and its COMMIT/ROLLBACK."""
    found, open_txn = [], False
    for statement in sqlglot.parse(sql, read="snowflake"):
        if isinstance(statement, exp.Transaction):
            open_txn = True
        elif isinstance(statement, (exp.Commit, exp.Rollback)):
            open_txn = False
        elif open_txn and isinstance(statement, DDL_NODES):
            found.append(statement.sql("snowflake")[:80])
    return found


@pytest.mark.scenario(4)
def test_no_ddl_inside_a_transaction_in_sql_files():
    bad = "BEGIN; INSERT INTO a VALUES (1); CREATE TABLE b (x INT); COMMIT;"
    assert ddl_inside_transactions(bad) == ["CREATE TABLE b (x INT)"]  # the check can fail
    for path in sorted((ROOT / "sql").rglob("*.sql")):
        assert ddl_inside_transactions(path.read_text()) == [], path


@pytest.mark.scenario(4)
def test_no_ddl_literal_inside_a_python_transaction_block():
    def ddl_in_with(tree: ast.AST) -> list[int]:
        lines = []
        for node in ast.walk(tree):
            is_txn = isinstance(node, ast.With) and any(
                isinstance(i.context_expr, ast.Call)
                and getattr(i.context_expr.func, "attr", "") == "transaction"
                for i in node.items
            )
            for inner in ast.walk(node) if is_txn else ():
                text = inner.value if isinstance(inner, ast.Constant) else None
                if isinstance(text, str) and text.lstrip().upper().startswith(
                    ("CREATE ", "DROP ", "ALTER ", "TRUNCATE ")
                ):
                    lines.append(inner.lineno)
        return lines

    assert ddl_in_with(ast.parse("with wh.transaction():\n    wh.execute('DROP TABLE x')\n"))
    for path in sorted((ROOT / "tasks").rglob("*.py")) + sorted((ROOT / "flows").rglob("*.py")):
        assert ddl_in_with(ast.parse(path.read_text())) == [], path


@pytest.mark.scenario(4)
def test_ddl_inside_a_transaction_is_refused_at_run_time(warehouse):  # noqa: F811
    warehouse.write_frame(scores([0.1]), "ML.CUSTOMER_SCORES", "append")
    with pytest.raises(DDLInTransactionError, match="auto-commit"), warehouse.transaction():
        warehouse.execute("DELETE FROM ml.customer_scores")
        warehouse.execute("CREATE TABLE ml.oops (x INT)")
    assert warehouse.row_count("ML.CUSTOMER_SCORES") == 1
    assert not warehouse.table_exists("ML.OOPS")


@pytest.mark.scenario(5)
def test_duplicate_keys_are_counted_and_sampled_before_merge(warehouse):  # noqa: F811
    keys = ("CUSTOMER_ID", "AS_OF_DATE")
    batch = pd.concat([scores([0.9, 0.8, 0.7]), scores([0.6, 0.5])])
    with pytest.raises(DuplicateKeyError, match=r"^2 duplicate keys .*'CUSTOMER_ID': 'C"):
        warehouse.write_frame(batch, "ML.CUSTOMER_SCORES", "merge", keys)
    assert warehouse.row_count("ML.CUSTOMER_SCORES") == 0
    assert warehouse.list_tables("ML", "STG_") == []


@pytest.mark.scenario(12)
def test_lowercase_names_are_written_upper_case(warehouse):  # noqa: F811
    frame = pd.DataFrame({"customer_id": ["a"], "churn_probability": [0.5]})
    warehouse.load_staging(frame, "ml.lower_case_scores")  # creates the table from the frame
    warehouse.write_frame(frame, "ml.lower_case_scores", "overwrite")
    names = warehouse.fetch_frame(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE UPPER(table_name) = 'LOWER_CASE_SCORES'"
    )
    assert set(names["TABLE_NAME"]) == {"LOWER_CASE_SCORES"}
    assert set(names["COLUMN_NAME"]) == {"CUSTOMER_ID", "CHURN_PROBABILITY"}


@pytest.mark.scenario(13)
def test_write_pandas_never_overwrites_a_published_table(monkeypatch, tmp_path):
    import fakesnow
    import snowflake.connector
    import snowflake.connector.pandas_tools as pandas_tools

    from tasks.warehouse.snowflake import SnowflakeWarehouse

    for path in sorted((ROOT / "tasks").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "write_pandas":
                assert not any(
                    k.arg == "overwrite" and getattr(k.value, "value", False) for k in node.keywords
                ), path
    calls = []
    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        real = pandas_tools.write_pandas

        def spy(conn, df, table_name, **kw):
            calls.append((table_name, kw.get("overwrite", False)))
            return real(conn, df, table_name, **kw)

        monkeypatch.setattr(pandas_tools, "write_pandas", spy)
        wh = SnowflakeWarehouse(snowflake.connector.connect(), "LIFELINE")
        wh.bootstrap()
        for mode in ("append", "overwrite", "merge"):
            keys = ("CUSTOMER_ID", "AS_OF_DATE") if mode == "merge" else ()
            wh.write_frame(scores([0.2]), "ML.CUSTOMER_SCORES", mode, keys)
    assert calls and all(name.startswith("STG_") and not over for name, over in calls)
