"""Load the Snowflake-dialect SQL files under sql/ and render them for an engine."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp

SQL_ROOT = Path(__file__).resolve().parents[2] / "sql"
_SENTINEL = "__lifeline_p_"
# Names and literals new on every call: staging tables and views (a 12-hex-digit suffix)
# and load ids (64 hex digits). They are swapped for stand-ins before transpiling, so a
# statement shape is parsed once per process instead of once per file or cut-off.
VOLATILE = re.compile(r"\b\w+_[0-9A-Fa-f]{12}\b|(?<=')[0-9a-f]{64}(?=')")
STAND_IN = re.compile(r"lifeline_volatile_([0-9]+)", re.IGNORECASE)


@lru_cache(maxsize=256)
def load_sql(name: str) -> str:
    """Return the text of sql/NAME.sql (NAME like 'features/20_build_customer_features')."""
    path = (SQL_ROOT / f"{name}.sql").resolve()
    if SQL_ROOT not in path.parents:
        raise ValueError(f"SQL file name escapes sql/: {name!r}")
    return path.read_text()


def render_sql(sql: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    """Transpile one Snowflake statement to DIALECT; return (text, bind names in text order).

    Per-call names are put back after a cached transpile of the statement's shape.
    """
    found = list(dict.fromkeys(VOLATILE.findall(sql)))
    if not found or STAND_IN.search(sql):
        return render_shape(sql, dialect)
    shape = VOLATILE.sub(lambda m: f"lifeline_volatile_{found.index(m.group())}", sql)
    text, names = render_shape(shape, dialect)
    return STAND_IN.sub(lambda m: found[int(m.group(1))], text), names


@lru_cache(maxsize=512)
def render_shape(sql: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    """Transpile one Snowflake statement to DIALECT; return (text, bind names in text order).

    Binds are written `:name` in the files. DuckDB gets `$name`; Snowflake gets `%(name)s`
    (the connector's pyformat), so literal percent signs are doubled there.
    """
    tree = sqlglot.parse_one(sql, read="snowflake")
    names: list[str] = []
    for node in tree.find_all(exp.Placeholder):
        if node.this and node.this not in names:
            names.append(node.this)
    if dialect == "duckdb":
        return tree.sql("duckdb"), tuple(names)
    if dialect != "snowflake":
        raise ValueError(f"unknown dialect {dialect!r}")

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this:
            return exp.Placeholder(this=f"{_SENTINEL}{node.this}")
        return node

    text = tree.transform(mark).sql("snowflake").replace("%", "%%")
    text = re.sub(rf":{_SENTINEL}(\w+)", r"%(\1)s", text)
    return text, tuple(names)
