"""Identifiers from parameters: 50+ curated attacks and 1,000+ generated names, none reach SQL."""

from __future__ import annotations

import re

import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tasks.identifiers import UnsafeIdentifierError, quote_identifier, validate_identifier
from tasks.ingest import parse_mapping
from tasks.settings import load_settings

pytestmark = pytest.mark.scenario(14)
SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")

CURATED = [
    "scores; drop table x",
    'x" ;--',
    "DB.S.T--",
    "a" * 256,
    "tablé",
    "ТАБЛИЦА",
    "表",
    "",
    " ",
    "a..b",
    ".a",
    "a.",
    "1abc",
    "a b",
    "a.b.c.d",
    "x'",
    "x''",
    "x/*",
    "x*/",
    "ml.scores)",
    "(select 1)",
    "x;",
    ";x",
    "x--",
    "--x",
    "x#",
    "x\n",
    "x\r\ny",
    "x\t",
    "x\x00",
    'a"b',
    '"a"',
    "`a`",
    "[a]",
    "a,b",
    "a=b",
    "a+b",
    "a-b",
    "a/b",
    "a\\b",
    "a%b",
    "a&b",
    "a|b",
    "a@b",
    "@stage",
    "a:b",
    ":bind",
    "%(x)s",
    "{x}",
    "$1",
    "identifier('x')",
    "x' OR '1'='1",
    "x UNION SELECT 1",
    "raw.transactions; DELETE FROM raw.transactions",
    "scores\u200b",
    "ﬁ",
    "b." + "a" * 256,
]


@pytest.mark.parametrize("name", CURATED, ids=[f"attack{i}" for i in range(len(CURATED))])
def test_curated_attacks_are_rejected(name):
    with pytest.raises(UnsafeIdentifierError):
        validate_identifier(name)


def test_there_are_at_least_50_curated_attacks():
    assert len(set(CURATED)) >= 50


def round_trips(name: str) -> bool:
    """Quote NAME, parse it back as a Snowflake table reference, compare the parts."""
    table = sqlglot.parse_one(f"SELECT * FROM {quote_identifier(name)}", read="snowflake").find(
        exp.Table
    )
    parts = [p.name for p in table.parts]
    return parts == name.upper().split(".")


identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_$]{0,30}", fullmatch=True)
dotted = st.lists(identifier, min_size=1, max_size=3).map(".".join)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=300), dotted))
def test_generated_names_are_rejected_or_round_trip_unchanged(name):
    try:
        out = validate_identifier(name)
    except UnsafeIdentifierError:
        assert not all(SAFE.fullmatch(p) for p in name.split(".")) or name.count(".") > 2
        return
    assert all(SAFE.fullmatch(p) for p in name.split("."))
    assert out == name.upper() and round_trips(name)


def test_a_malicious_database_name_fails_before_any_connection(monkeypatch):
    import snowflake.connector

    from tasks.warehouse import open_warehouse

    calls = []
    monkeypatch.setattr(snowflake.connector, "connect", lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError, match="unsafe identifier"):
        settings = load_settings(
            target="snowflake",
            snowflake_account="acme",
            snowflake_user="u",
            snowflake_database="LIFELINE; DROP DATABASE PROD",
        )
        open_warehouse(settings)
    assert calls == []


def test_a_malicious_column_mapping_fails_before_sql():
    with pytest.raises(ValueError, match="unsafe identifier"):
        parse_mapping({"amount": 'value"; DROP TABLE raw.transactions; --'})
