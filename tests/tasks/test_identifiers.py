"""The identifier validator: the only path from a parameter to a SQL name."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.identifiers import UnsafeIdentifierError, quote_identifier, validate_identifier

SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


@pytest.mark.parametrize(
    "name",
    [
        "scores; drop table x",
        'x" ;--',
        "DB.S.T--",
        "a" * 256,
        "tablé",
        "",
        "a..b",
        "1abc",
        "a b",
        "a.b.c.d",
        "x'",
        "x/*",
        "ml.scores)",
    ],
)
def test_rejects_unsafe(name):
    with pytest.raises(UnsafeIdentifierError):
        validate_identifier(name)


def test_accepts_and_uppercases():
    assert validate_identifier("ml.customer_scores") == "ML.CUSTOMER_SCORES"
    assert quote_identifier("raw.t$1") == '"RAW"."T$1"'


@given(st.text(max_size=300))
def test_nothing_unsafe_passes(text):
    try:
        out = validate_identifier(text)
    except UnsafeIdentifierError:
        return
    assert all(SAFE.fullmatch(p) for p in text.split("."))
    assert out == text.upper()
