"""Parsing: SQL that turns a staged source file into typed RAW.TRANSACTIONS columns."""

from __future__ import annotations

from collections.abc import Mapping

from tasks.identifiers import UnsafeIdentifierError, validate_column_name
from tasks.ingest.errors import IngestError

TXN_ROLES = ("transaction_id", "customer_id", "txn_ts", "amount", "category", "channel", "status")
REQUIRED_ROLES = ("customer_id", "txn_ts", "amount")
# Roles read only when mapped, never found by name: a file's "quantity" column beside a line
# total would otherwise multiply it. With QUANTITY mapped, AMOUNT is the unit price.
MAPPED_ONLY_ROLES = ("quantity",)


MAX_AMOUNT = 1e16  # RAW.TRANSACTIONS.AMOUNT is NUMBER(18, 2)


def parse_mapping(pairs: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a role -> source column mapping (roles from RAW.TRANSACTIONS)."""
    mapping = {}
    for role, column in (pairs or {}).items():
        role_key = role.strip().lower()
        if role_key not in TXN_ROLES + MAPPED_ONLY_ROLES:
            roles = ", ".join(TXN_ROLES + MAPPED_ONLY_ROLES)
            raise IngestError(f"unknown column role {role!r}; roles are {roles}")
        try:
            validate_column_name(column.strip())
        except UnsafeIdentifierError as exc:
            raise IngestError(f"column name for {role_key}: {exc}") from None
        mapping[role_key] = column.strip()
    return mapping


def quote_source_column(name: str) -> str:
    """Quote a validated source column exactly as the file spells it."""
    return f'"{validate_column_name(name)}"'


def resolve_columns(
    available: list[str], mapping: Mapping[str, str], path: str, order_lines: bool = False
) -> dict[str, str | None]:
    """Map each role to the file's actual column (case-insensitive), or None if optional.

    Order lines are summed per transaction id, so that id is required for them.
    """
    by_upper = {c.upper(): c for c in available}
    required = REQUIRED_ROLES + (("transaction_id",) if order_lines else ())
    resolved: dict[str, str | None] = {}
    for role in TXN_ROLES + MAPPED_ONLY_ROLES:
        if role in MAPPED_ONLY_ROLES and role not in mapping:
            resolved[role] = None
            continue
        wanted = mapping.get(role, role)
        actual = by_upper.get(wanted.upper())
        if actual is None and (role in required or role in MAPPED_ONLY_ROLES):
            hint = f" (mapped from {wanted!r})" if role in mapping else ""
            raise IngestError(
                f"{path}: missing required column {wanted!r} for {role}{hint}; "
                f"file has {', '.join(available)}: name it with --column {role}=NAME "
                "(parameter columns)"
            )
        resolved[role] = actual
    return resolved


def source_text(column: str) -> str:
    """A source column as the trimmed text its dates and amounts are parsed from."""
    return f"TRIM(CAST({column} AS VARCHAR))"


def timestamp_expr(column: str, dtype: str, date_format: str | None) -> str:
    """Snowflake SQL that parses COLUMN into TIMESTAMP_NTZ in UTC, or NULL when it cannot.

    Policy: zoned values (typed, or text with an offset/Z) are converted to UTC; naive values
    are taken to be UTC already.
    """
    if dtype == "datetime_tz":
        return f"CAST(CONVERT_TIMEZONE('UTC', {column}) AS TIMESTAMP_NTZ)"
    if dtype == "datetime":
        return f"CAST({column} AS TIMESTAMP_NTZ)"
    if dtype == "number" and not date_format:
        return number_timestamp(column)
    return text_timestamp(source_text(column), date_format)


# Below this a number is a spreadsheet serial day (Excel, Sheets, Lotus: days since
# 1899-12-30), not a Unix time: 100,000 seconds after 1970 is still 2 January 1970.
SERIAL_DAYS_BELOW = 100_000


def number_timestamp(value: str) -> str:
    """Snowflake SQL for a numeric time VALUE, told by its size and digits.

    Whole eight- and fourteen-digit numbers are YYYYMMDD and YYYYMMDDHHMISS (as in text),
    numbers below SERIAL_DAYS_BELOW are spreadsheet serial days, others are Unix times in
    seconds, milliseconds, microseconds or nanoseconds by magnitude (Snowflake's rule). NaN,
    infinities and numbers past BIGINT are NULL: the row checks name the row.
    """
    digits = f"CAST(CAST({value} AS BIGINT) AS VARCHAR)"
    whole = f"{value} = FLOOR({value})"
    serial = (
        f"DATEADD(SECOND, CAST(ROUND({value} * 86400) AS BIGINT), "
        "CAST('1899-12-30' AS TIMESTAMP_NTZ))"
    )
    # (Stated positively: DuckDB folds a negated test away on NaN-blind Parquet statistics.)
    return (
        f"CASE WHEN {value} - {value} = 0 AND ABS({value}) < 9e18 THEN CASE "
        f"WHEN {value} BETWEEN 10000101 AND 99991231 AND {whole} "
        f"THEN TRY_TO_TIMESTAMP({digits}, 'YYYYMMDD') "
        f"WHEN {value} BETWEEN 10000101000000 AND 99991231235959 AND {whole} "
        f"THEN TRY_TO_TIMESTAMP({digits}, 'YYYYMMDDHH24MISS') "
        f"WHEN {value} > 0 AND {value} < {SERIAL_DAYS_BELOW} THEN {serial} "
        f"ELSE {epoch_timestamp(value)} END END"
    )


def epoch_timestamp(column: str) -> str:
    """Snowflake SQL for a numeric Unix time, its unit told by its size as TO_TIMESTAMP does."""
    whole = f"CAST({column} AS BIGINT)"
    start = "CAST('1970-01-01' AS TIMESTAMP_NTZ)"
    units = [(31536000000, "SECOND"), (31536000000000, "MILLISECOND")]
    units += [(31536000000000000, "MICROSECOND")]
    cases = " ".join(
        f"WHEN ABS({column}) < {limit} THEN DATEADD({unit}, {whole}, {start})"
        for limit, unit in units
    )
    # The cast keeps microseconds: DuckDB would type the column TIMESTAMP_NS otherwise.
    return f"CAST(CASE {cases} ELSE DATEADD(NANOSECOND, {whole}, {start}) END AS TIMESTAMP_NTZ)"


def text_timestamp(text: str, date_format: str | None) -> str:
    """Snowflake SQL that parses the text TEXT into TIMESTAMP_NTZ, or NULL when it cannot.

    Without a format: ISO 8601 (with an offset or Z: converted to UTC), and numbers read as
    number_timestamp reads them.
    """
    if date_format:
        fmt = date_format.replace("'", "")
        return f"TRY_TO_TIMESTAMP({text}, '{fmt}')"
    iso = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
    return (
        f"CASE WHEN REGEXP_LIKE({text}, '-?[0-9]+([.][0-9]+)?') "
        f"THEN {number_timestamp(f'TRY_CAST({text} AS DOUBLE)')} "
        f"WHEN REGEXP_LIKE({text}, '{iso}.*([+-][0-9]{{2}}:?[0-9]{{2}}|Z)') "
        f"THEN CAST(CONVERT_TIMEZONE('UTC', TRY_CAST({text} AS TIMESTAMP_TZ)) AS TIMESTAMP_NTZ) "
        f"WHEN REGEXP_LIKE({text}, '{iso}.*') "
        f"THEN TRY_CAST({text} AS TIMESTAMP_NTZ) END"
    )


def trimmed(text: str) -> str:
    """TEXT without surrounding spaces; the common untouched value is not copied.

    TRIM changes a value only when it starts or ends with a space: testing that first
    keeps DuckDB from copying every id (about a tenth of a clean file's load).
    """
    return f"CASE WHEN {text} LIKE ' %' OR {text} LIKE '% ' THEN TRIM({text}) ELSE {text} END"


# Text amounts as spreadsheets and accounting exports write them: digit grouping and the
# decimal mark, keyed by how they write 1234.56: (the full-match pattern, group, decimal).
AMOUNT_LAYOUTS = {
    "1,234.56": ("-?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)([.][0-9]+)?", ",", "."),
    "1.234,56": ("-?([0-9]{1,3}([.][0-9]{3})+|[0-9]+)(,[0-9]+)?", ".", ","),
}
# Around the number: currency signs and codes, spaces (also no-break), Swiss apostrophes.
AMOUNT_NOISE = "[ \u00a0$\u20ac\u00a3\u00a5\u20b9''\u2019]|^[A-Z]{3}|[A-Z]{3}$"


def amount_expr(column: str, dtype: str, amount_layout: str | None = None) -> str:
    """Snowflake SQL that parses COLUMN into a number, or NULL when it cannot.

    NaN, infinities and amounts RAW's NUMBER(18, 2) cannot hold are NULL too, so the row
    checks name the row instead of the cast failing the whole read. AMOUNT_LAYOUT (a key
    of AMOUNT_LAYOUTS) reads text written with grouping, decimal commas or currency signs.
    """
    if dtype == "number":
        value = f"CAST({column} AS DOUBLE)"
    elif amount_layout:
        value = layout_number(source_text(column), amount_layout)
    else:
        value = f"TRY_CAST({source_text(column)} AS DOUBLE)"
    # x - x = 0 fails for NaN and infinities. ABS alone would do in both engines, but
    # DuckDB folds it away when Parquet statistics (which leave NaN out) say it holds.
    return f"IFF({value} - {value} = 0 AND ABS({value}) < {MAX_AMOUNT:.0e}, {value}, NULL)"


def layout_number(text: str, layout: str) -> str:
    """Snowflake SQL for the number TEXT writes in LAYOUT, or NULL when it does not fit it.

    Currency signs and codes and spaces are dropped; accounting parentheses mean minus.
    """
    pattern, group, decimal = AMOUNT_LAYOUTS[layout]
    bare = f"REGEXP_REPLACE({text}, '{AMOUNT_NOISE}', '')"
    signed = f"IFF({bare} LIKE '(%)', '-' || SUBSTR({bare}, 2, LENGTH({bare}) - 2), {bare})"
    number = f"REPLACE(REPLACE({signed}, '{group}', ''), '{decimal}', '.')"
    return f"IFF(REGEXP_LIKE({signed}, '{pattern}'), TRY_CAST({number} AS DOUBLE), NULL)"


def customer_expr(column: str, dtype: str) -> str:
    """Snowflake SQL for a customer id as text, whole numbers without a trailing '.0'.

    pandas writes an integer id column with a gap as floats (17850.0), so one customer would
    otherwise be two ids across files (and a CRM user searches for 17850). NaN is no id.
    """
    if dtype == "number":
        whole = f"{column} = FLOOR({column}) AND ABS({column}) < 1e15"
        return (
            f"CASE WHEN {column} - {column} = 0 THEN IFF({whole}, "
            f"CAST(CAST({column} AS BIGINT) AS VARCHAR), CAST({column} AS VARCHAR)) END"
        )
    text = trimmed(f"CAST({column} AS VARCHAR)")
    # LIKE first: the pattern test then runs only on the rare ids that end in '.0'
    point_zero = f"{text} LIKE '%.0' AND REGEXP_LIKE({text}, '[0-9]+[.]0')"
    return f"IFF({point_zero}, LEFT({text}, LENGTH({text}) - 2), {text})"


def parsed_select(
    staged: str,
    cols: Mapping[str, str | None],
    dtypes: Mapping[str, str],
    date_format: str | None,
    order_lines: bool = False,
    amount_layout: str | None = None,
    skip_no_customer: bool = False,
) -> str:
    """The SELECT that turns staged source rows into typed RAW.TRANSACTIONS columns.

    SKIP_NO_CUSTOMER leaves out rows without a customer id (before lines are grouped). With
    ORDER_LINES, rows sharing a transaction id (basket lines) become one transaction:
    amounts summed, the earliest time kept. A line whose value does not parse makes the
    whole transaction unparsed, so the checks still name it.
    """
    q = {role: quote_source_column(c) if c else None for role, c in cols.items()}
    cust = customer_expr(q["customer_id"], dtypes[cols["customer_id"]])
    ts = timestamp_expr(q["txn_ts"], dtypes[cols["txn_ts"]], date_format)
    amount = amount_expr(q["amount"], dtypes[cols["amount"]], amount_layout)
    if q.get("quantity"):  # AMOUNT is a unit price: the line's value is price x quantity
        quantity = amount_expr(q["quantity"], dtypes[cols["quantity"]])
        amount = f"IFF(ABS({amount} * {quantity}) < {MAX_AMOUNT:.0e}, {amount} * {quantity}, NULL)"

    def text(role: str, default: str) -> str:
        return f"CAST({q[role]} AS VARCHAR)" if q[role] else default

    # Missing ids are derived from content plus the occurrence number of identical rows,
    # so the same transaction gets the same id in any file.
    txn_id = (
        trimmed("raw_id")
        if q["transaction_id"]
        else "'H' || MD5(raw_customer || '|' || COALESCE(CAST(raw_ts AS VARCHAR), '') || '|' || "
        "COALESCE(CAST(raw_amount AS VARCHAR), '') || '|' || CAST(ROW_NUMBER() OVER ("
        "PARTITION BY raw_customer, raw_ts, raw_amount ORDER BY source_row) AS VARCHAR))"
    )
    rows = (
        "WITH src AS (SELECT source_row, "
        f"{cust} AS raw_customer, {ts} AS raw_ts, {amount} AS raw_amount, "
        f"{text('transaction_id', 'NULL')} AS raw_id, "
        f"{text('category', 'NULL')} AS category, {text('channel', 'NULL')} AS channel, "
        f"LOWER({text('status', repr('approved'))}) AS status "
        f"FROM {staged}) "
        f"SELECT source_row, {txn_id} AS transaction_id, raw_customer AS customer_id, "
        "raw_ts AS txn_ts, raw_amount AS amount, category, channel, status FROM src"
        + (" WHERE raw_customer <> ''" if skip_no_customer else "")
    )
    if not order_lines:
        return rows
    return (
        "SELECT MIN(source_row) AS source_row, transaction_id, "
        "IFF(COUNT(DISTINCT customer_id) = 1 AND COUNT(customer_id) = COUNT(*), "
        "MIN(customer_id), NULL) AS customer_id, "
        "IFF(COUNT(txn_ts) = COUNT(*), MIN(txn_ts), NULL) AS txn_ts, "
        "IFF(COUNT(amount) = COUNT(*), SUM(amount), NULL) AS amount, "
        "MIN(category) AS category, MIN(channel) AS channel, MIN(status) AS status "
        f"FROM ({rows}) AS line GROUP BY transaction_id"
    )
