"""Transpiling: statements that differ only in per-call names are parsed once."""

import pytest

from tasks.warehouse.sqlfiles import render_shape, render_sql


@pytest.mark.parametrize("dialect", ["duckdb", "snowflake"])
def test_per_call_names_share_one_transpile(dialect):
    render_shape.cache_clear()
    for suffix, load_id in (("0123456789AB", "a" * 64), ("ba9876543210", "0f" * 32)):
        sql = (
            f'INSERT INTO RAW.STG_CUSTOMERS_{suffix} SELECT IFF(p.amount > :lo, 1, 0), "%" '
            f'FROM "TEMP"."LIFELINE_VIEW_{suffix}" AS p JOIN lifeline_stage_{suffix} AS s '
            f"ON s.id = p.id WHERE p.load_id = '{load_id}'"
        )
        text, names = render_sql(sql, dialect)
        assert (text, names) == render_shape.__wrapped__(sql, dialect)
        assert suffix in text and load_id in text
    assert render_shape.cache_info().misses == 1


def test_a_statement_without_per_call_names_is_rendered_as_is():
    sql = "SELECT IFF(x, 1, 0) AS lifeline_volatile_0 FROM t"
    assert render_sql(sql, "duckdb") == render_shape.__wrapped__(sql, "duckdb")
