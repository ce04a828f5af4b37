"""Loading: validate each parsed file in the warehouse, publish it with its manifest row."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace

import pandas as pd

from tasks import progress, quality
from tasks.failpoints import failpoint
from tasks.identifiers import quote_identifier
from tasks.ingest.errors import IngestError
from tasks.ingest.layouts import Fit, amount_layouts, date_layouts
from tasks.ingest.parsing import (
    MAX_AMOUNT,
    customer_expr,
    parsed_select,
    quote_source_column,
    resolve_columns,
    text_timestamp,
)
from tasks.ingest.sources import content_hash, file_kind, local_copy, split_portfolio
from tasks.ingest.text import readable_text
from tasks.policy import IngestPolicy
from tasks.warehouse import Warehouse
from tasks.warehouse.base import FileReadError, StatementTimeoutError

CUSTOMER_COLUMNS = (
    "CUSTOMER_ID",
    "AGE",
    "STATE",
    "EMPLOYMENT_STATUS",
    "CARD_TYPE",
    "CREDIT_LIMIT",
    "ACCOUNT_OPEN_DATE",
    "SEGMENT",
)
RAW_SUITE = "raw_transactions"


@dataclass
class IngestReport:
    """What one ingest run did."""

    files_loaded: int = 0
    files_skipped: int = 0
    rows_loaded: int = 0
    rows_already_present: int = 0
    customers_loaded: int = 0
    check_seconds: float = 0.0  # row checks and the raw gate, inside the load's seconds
    loaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class LoadRejectedError(IngestError):
    """A file failed its checks: nothing of it was written; the manifest says why."""


# Manifest rows written before statuses existed have none: they were loads.
LOADED = "COALESCE(status, 'loaded') = 'loaded'"


def already_loaded(wh: Warehouse, load_id: str, dataset: str) -> bool:
    """Whether the manifest has this file content loaded for this dataset (not rejected)."""
    return bool(
        wh.scalar(
            "SELECT COUNT(*) FROM raw.load_manifest WHERE load_id = :id AND dataset = :ds "
            f"AND {LOADED}",
            {"id": load_id, "ds": dataset},
        )
    )


def listed_before(wh: Warehouse, uri: str, version: str, dataset: str) -> bool:
    """Whether this object version (same URI, ETag, size, time) was loaded or found a copy."""
    return bool(
        wh.scalar(
            "SELECT COUNT(*) FROM raw.load_manifest WHERE source_uri = :uri AND dataset = :ds "
            "AND source_version = :v AND COALESCE(status, 'loaded') IN ('loaded', 'duplicate')",
            {"uri": uri, "ds": dataset, "v": version},
        )
    )


def record_duplicate(
    wh: Warehouse, load_id: str, dataset: str, uri: str, run_id: str, version: str
) -> None:
    """Note an object whose content is already loaded, so its next listing skips the download."""
    wh.execute(
        "INSERT INTO raw.load_manifest (load_id, dataset, source_uri, row_count, loaded_at, "
        "flow_run_id, status, reason, source_version) "
        "SELECT :id, :ds, :uri, 0, CURRENT_TIMESTAMP(), :run_id, 'duplicate', "
        "'same content as a loaded file', :v",
        {"id": load_id, "ds": dataset, "uri": uri, "run_id": run_id, "v": version},
    )


def record_rejection(
    wh: Warehouse, load_id: str, dataset: str, uri: str, run_id: str, reason: str
) -> None:
    """Note a rejected file in the manifest; the same content is tried again next run."""
    wh.execute(
        "INSERT INTO raw.load_manifest (load_id, dataset, source_uri, row_count, loaded_at, "
        "flow_run_id, status, reason) "
        "SELECT :id, :ds, :uri, 0, CURRENT_TIMESTAMP(), :run_id, 'rejected', :reason",
        {"id": load_id, "ds": dataset, "uri": uri, "run_id": run_id, "reason": reason[:2000]},
    )


@dataclass
class FileCheck:
    """What the validation pass learned about one file."""

    rows: int
    min_id: str
    max_id: str


# The row checks, computed in the raw gate's pass over the staged file (one read for both).
ROW_CHECKS = {
    "n": "COUNT(*)",
    "bad_customer": "MIN(IFF(customer_id IS NULL OR customer_id = '', source_row, NULL))",
    "bad_ts": "MIN(IFF(txn_ts IS NULL, source_row, NULL))",
    "bad_amount": "MIN(IFF(amount IS NULL, source_row, NULL))",
    "future_ts": "MIN(IFF(txn_ts > CAST(:max_ts AS TIMESTAMP_NTZ), source_row, NULL))",
    # hashes are cheaper to count than strings; a collision is re-counted exactly below
    "dup_ids": "COUNT(*) - COUNT(DISTINCT HASH(transaction_id))",
    "min_id": "MIN(transaction_id)",
    "max_id": "MAX(transaction_id)",
}
ID_CHECKS = ("dup_ids", "min_id", "max_id")  # known without them when the ids rise strictly


@dataclass(frozen=True)
class Reading:
    """How a file's rows are read: its staged relation, columns, their types, the layouts."""

    staged: str
    cols: Mapping[str, str | None]
    dtypes: Mapping[str, str]
    date_format: str | None = None
    date_guessed: bool = False  # DATE_FORMAT was found from the file's values, not given
    amount_layout: str | None = None
    order_lines: bool = False
    rows_without_customer: str = "reject"  # the policy: "reject" or "skip"
    # rows without a customer id this reading leaves out (the manifest records them)
    skipped_rows: int = 0

    @property
    def skip_no_customer(self) -> bool:
        """Whether this reading leaves out rows without a customer id."""
        return self.skipped_rows > 0

    def parsed_select(self) -> str:
        """The SELECT of typed RAW.TRANSACTIONS rows read this way."""
        return parsed_select(
            self.staged,
            self.cols,
            self.dtypes,
            self.date_format,
            self.order_lines,
            self.amount_layout,
            self.skip_no_customer,
        )

    def with_fit(self, fit: Fit | NoCustomer) -> Reading:
        """This reading with FIT's one layout for its column, or without rows lacking ids."""
        if isinstance(fit, NoCustomer):
            return replace(self, skipped_rows=fit.rows)
        if fit.role == "txn_ts":
            return replace(self, date_format=fit.layouts[0], date_guessed=True)
        return replace(self, amount_layout=fit.layouts[0])

    def is_text(self, role: str) -> bool:
        """Whether ROLE's column arrived as text (CSV, or strings in Parquet)."""
        column = self.cols.get(role)
        return bool(column) and self.dtypes.get(column) not in ("number", "datetime", "datetime_tz")


@dataclass(frozen=True)
class NoCustomer:
    """ROWS of the file have no customer id, and the policy says to leave them out."""

    rows: int

    def note(self, uri: str) -> str:
        """The warning the load carries."""
        return (
            f"{uri}: {self.rows:,} rows without a customer id left out "
            '([ingest] rows_without_customer = "skip")'
        )


class ReadAgain(Exception):  # noqa: N818 (an instruction to the loader, not an error)
    """Read the file again: its text fits one other layout, or rows without ids are left out."""

    def __init__(self, fit: Fit | NoCustomer) -> None:
        super().__init__(fit)
        self.fit = fit


def check_rows(
    wh: Warehouse,
    stats: Mapping[str, object],
    staging: str,
    path: str,
    max_ts: str,
    reading: Reading | None = None,
) -> FileCheck:
    """Fail with file, row and column for the first unusable row; else the file's stats.

    STATS are the ROW_CHECKS over STAGING; the offending raw value is fetched only on failure.
    Raises ReadAgain when the offending column's text fits exactly one known layout.
    """
    if int(stats["n"]) == 0:
        if reading and reading.skip_no_customer:
            raise IngestError(f"{path}: no row has a customer id")
        raise IngestError(f"{path}: the file has no data rows")
    if not pd.isna(stats["bad_customer"]) and reading:
        no_customer(wh, reading, path)
    problems = [
        ("bad_customer", "customer_id", "is empty", None),
        ("bad_ts", "txn_ts", "is not a recognised date/time", "txn_ts"),
        ("bad_amount", "amount", "is not a number", "amount"),
        ("future_ts", "txn_ts", f"is in the future (after {max_ts})", "txn_ts"),
    ]
    for key, role, what, value_role in problems:
        if not pd.isna(stats[key]):
            row = int(stats[key])
            value = ""
            if value_role and reading and reading.cols.get(value_role):
                raw = raw_value(wh, reading, value_role, row)
                value = f" (value {raw!r})"
                if key == "bad_ts" and mixes_layouts(wh, reading, raw):
                    raise IngestError(
                        f"{path}: row {row}: column txn_ts mixes date layouts: {raw!r} is not "
                        f"{reading.date_format}, the layout of its other values; export the "
                        f"column in one layout"
                    )
                if key == "bad_amount" and too_large(raw):
                    what = f"is beyond what NUMBER(18, 2) holds (+-{MAX_AMOUNT:.0e})"
                elif key in ("bad_ts", "bad_amount") and raw is not None:
                    value += other_layouts(wh, reading, role, str(raw))
                if key == "bad_amount" and reading.cols.get("quantity"):
                    # other_layouts adds no hint to an amount: it reads the file again or not
                    role = "amount x quantity"
                    value = f" (values {raw!r} x {raw_value(wh, reading, 'quantity', row)!r})"
            raise IngestError(f"{path}: row {row}: column {role} {what}{value}")
    if int(stats["dup_ids"]):
        duplicates = int(
            wh.scalar(
                f"SELECT COUNT(*) - COUNT(DISTINCT transaction_id) FROM {quote_identifier(staging)}"
            )
        )
        if duplicates:
            raise IngestError(f"{path}: {duplicates} duplicate transaction ids in the file")
    return FileCheck(int(stats["n"]), str(stats["min_id"]), str(stats["max_id"]))


DATE_HINT = "give its layout as --date-format (parameter date_format)"


def no_customer(wh: Warehouse, reading: Reading, path: str) -> None:
    """Rows without a customer id: ReadAgain without them if the policy skips them, else fail.

    The failure names the first such source row and the policy key that would skip them.
    """
    name = str(reading.cols["customer_id"])
    text = customer_expr(quote_source_column(name), reading.dtypes[name])
    found = wh.fetch_frame(
        f"SELECT COUNT(*) AS n, MIN(source_row) AS first_row FROM {reading.staged} "
        f"WHERE COALESCE({text}, '') = ''"
    ).iloc[0]
    if not int(found["N"]):
        return  # order lines naming two customers: the row checks say which
    if reading.rows_without_customer == "skip" and not reading.skip_no_customer:
        raise ReadAgain(NoCustomer(int(found["N"])))
    raise IngestError(
        f"{path}: row {int(found['FIRST_ROW'])}: column customer_id is empty "
        f"({int(found['N']):,} rows have no customer id; to leave such rows out, e.g. guest "
        'purchases, set rows_without_customer = "skip" under [ingest] in lifeline.toml)'
    )


def other_layouts(wh: Warehouse, reading: Reading, role: str, raw: str) -> str:
    """Raise ReadAgain when ROLE's text fits one other layout; else the error's hint."""
    column = quote_source_column(str(reading.cols[role]))
    if role == "txn_ts":
        if reading.date_format:
            return ""
        if reading.is_text(role):
            fit = date_layouts(wh, reading.staged, column, raw)
            if len(fit.layouts) == 1:
                raise ReadAgain(fit)
            if fit.layouts:
                return f"; it reads as {' or as '.join(fit.layouts)}: {DATE_HINT}"
        return f"; {DATE_HINT}, e.g. MM/DD/YYYY"
    if reading.amount_layout is None and reading.is_text(role):
        fit = amount_layouts(wh, reading.staged, column, raw)
        if fit.layouts:
            raise ReadAgain(fit)
    return ""


def raw_value(wh: Warehouse, reading: Reading, role: str, row: int) -> object:
    """ROLE's value as the file wrote it, at source row ROW."""
    return wh.scalar(
        f"SELECT CAST({quote_source_column(str(reading.cols[role]))} AS VARCHAR) "
        f"FROM {reading.staged} WHERE source_row = :r",
        {"r": row},
    )


def mixes_layouts(wh: Warehouse, reading: Reading, raw: object) -> bool:
    """Whether RAW, a time the layout found for the column misses, reads without a layout."""
    if not reading.date_guessed or raw is None:
        return False
    return bool(
        wh.scalar(f"SELECT {text_timestamp(':v', None)} IS NOT NULL", {"v": str(raw).strip()})
    )


def too_large(raw: object) -> bool:
    """Whether a raw amount is a finite number too large for RAW (not a parse failure)."""
    try:
        number = float(str(raw).strip())
    except ValueError:
        return False
    return math.isfinite(number) and abs(number) >= MAX_AMOUNT


def overlapping_loads(wh: Warehouse, check: FileCheck) -> list[str]:
    """Earlier transaction loads whose id range overlaps this file's (unknown range = overlap)."""
    return wh.fetch_frame(
        f"SELECT load_id FROM raw.load_manifest WHERE dataset = 'transactions' AND {LOADED} AND ("
        "min_transaction_id IS NULL OR max_transaction_id IS NULL OR NOT ("
        "max_transaction_id < :lo OR min_transaction_id > :hi))",
        {"lo": check.min_id, "hi": check.max_id},
    )["LOAD_ID"].tolist()


INSERT_TRANSACTIONS = (
    "INSERT INTO raw.transactions (transaction_id, customer_id, txn_ts, amount, category, "
    "channel, status, load_id, flow_run_id) SELECT p.transaction_id, p.customer_id, p.txn_ts, "
    "CAST(p.amount AS NUMBER(18, 2)), p.category, p.channel, p.status, :load_id, :run_id "
    "FROM {source}"
)


def publish_transactions(
    wh: Warehouse,
    staged: str,
    load_id: str,
    uri: str,
    run_id: str,
    check: FileCheck,
    version: str | None = None,
    skipped: int = 0,
) -> int:
    """Insert new rows, new customer ids and the manifest row in one transaction.

    Rows whose id is already loaded are skipped. Only loads whose id range overlaps this
    file's are searched, so a file of fresh ids never scans the whole table.
    """
    params = {
        "load_id": load_id,
        "run_id": run_id,
        "uri": uri,
        "rows": check.rows,
        "lo": check.min_id,
        "hi": check.max_id,
        "version": version,
        "skipped": skipped,
    }
    overlaps = overlapping_loads(wh, check)
    guard = ""
    if overlaps:
        names = [f":o{i}" for i in range(len(overlaps))]
        params |= {f"o{i}": load for i, load in enumerate(overlaps)}
        guard = (
            "WHERE NOT EXISTS (SELECT 1 FROM raw.transactions AS t WHERE t.load_id IN ("
            f"{', '.join(names)}) AND t.transaction_id = p.transaction_id)"
        )
    before = wh.row_count("RAW.TRANSACTIONS")
    failpoint("ingest.before_publish")
    with wh.transaction():
        wh.execute(INSERT_TRANSACTIONS.format(source=f"{staged} AS p {guard}"), params)
        record_load(wh, staged, params)
    failpoint("ingest.after_publish")
    return wh.row_count("RAW.TRANSACTIONS") - before


def record_load(wh: Warehouse, rows: str, params: Mapping[str, object]) -> None:
    """Inside the load's transaction: its new customer ids, then its manifest row."""
    wh.execute(
        "INSERT INTO raw.customers (customer_id, load_id, flow_run_id, loaded_at) "
        "SELECT DISTINCT p.customer_id, :load_id, :run_id, CURRENT_TIMESTAMP() "
        f"FROM {rows} AS p WHERE NOT EXISTS (SELECT 1 FROM raw.customers AS c "
        "WHERE c.customer_id = p.customer_id)",
        params,
    )
    failpoint("ingest.inside_publish")
    wh.execute(
        "INSERT INTO raw.load_manifest (load_id, dataset, source_uri, row_count, "
        "loaded_at, flow_run_id, min_transaction_id, max_transaction_id, status, "
        "source_version, rows_skipped) SELECT :load_id, 'transactions', :uri, :rows, "
        "CURRENT_TIMESTAMP(), :run_id, :lo, :hi, 'loaded', :version, :skipped",
        params,
    )


class NeedsStaging(Exception):
    """An in-place load that must be rolled back and go through the staged path."""


def publish_in_place(
    wh: Warehouse,
    parsed: str,
    load_id: str,
    uri: str,
    run_id: str,
    gate: tuple[str, Mapping[str, object]],
    version: str | None = None,
    report: IngestReport | None = None,
    skipped: int = 0,
) -> int | None:
    """Insert a parsed file straight into RAW in a transaction, gate those rows, commit.

    Saves the staging copy (about a third of a clean file's load). Anything unusual rolls
    back and returns None: a value the table refuses, a flagged row, a failed or warning
    expectation, or ids overlapping an earlier load. The staged path then names the
    problem, records a rejection, or skips the ids already present.
    """
    max_ts, gate_parameters = gate
    params = {
        "load_id": load_id,
        "run_id": run_id,
        "uri": uri,
        "version": version,
        "skipped": skipped,
    }
    # RAW has no file row numbers: a flagged load is re-run through staging to name the row.
    rows = f"SELECT *, 1 AS source_row FROM raw.transactions WHERE load_id = '{load_id}'"
    with wh.temporary_view(rows) as view:
        failpoint("ingest.before_publish")
        try:
            with wh.transaction():
                try:
                    wh.execute(INSERT_TRANSACTIONS.format(source=f"({parsed}) AS p"), params)
                except StatementTimeoutError:
                    raise
                except Exception:  # a value RAW refuses (empty id, bad number): staging names it
                    raise NeedsStaging from None
                with timed(report):
                    # Exports are mostly in id order: then the ids need no distinct count.
                    id_range = wh.rising_range(
                        f"SELECT transaction_id FROM {quote_identifier(view)}"
                    )
                    result = check_load(wh, view, max_ts, gate_parameters, id_range)
                    try:
                        check = check_rows(wh, result.extra, view, uri, max_ts)
                    except IngestError:  # the staged path names the file's row
                        raise NeedsStaging from None
                    if result.failed or overlapping_loads(wh, check):
                        raise NeedsStaging
                params |= {"rows": check.rows, "lo": check.min_id, "hi": check.max_id}
                record_load(wh, view, params)
        except NeedsStaging:
            return None
    quality.enforce_result(wh, result, run_id)  # a passed gate: records it (writes are DDL)
    failpoint("ingest.after_publish")
    return check.rows


def listed_content_id(version: str) -> str:
    """An S3 object's content identity from its listing: ETag and size, not the time."""
    etag, size, _ = version.split(":", 2)
    return f"s3-etag:{etag}:{size}"


@contextmanager
def new_file(
    wh: Warehouse, uri: str, dataset: str, run_id: str, version: str | None = None
) -> Iterator[NewFile | None]:
    """The file to read for URI, or None when its content is already loaded.

    An object whose listed version was seen before is not even downloaded; one the
    warehouse reads in place (Snowflake's external stage) is never downloaded at all. Text
    the warehouse cannot read as it is (UTF-16, Windows-1252, mixed line endings, columns
    aligned with spaces) is read from a clean UTF-8 copy; the load keeps the file's hash.
    """
    kind = file_kind(uri)
    if version is not None and listed_before(wh, uri, version, dataset):
        yield None
        return
    in_place = version is not None and wh.reads_in_place(uri)
    with nullcontext(uri) if in_place else local_copy(uri) as path:
        load_id = listed_content_id(version) if in_place else content_hash(path)
        if already_loaded(wh, load_id, dataset):
            if version is not None:
                record_duplicate(wh, load_id, dataset, uri, run_id, version)
            yield None
            return
        if in_place or kind != "csv":
            yield NewFile(path, kind, load_id)
            return
        opened = False
        try:
            with readable_text(path, uri) as (readable, notes):
                opened = True
                yield NewFile(readable, kind, load_id, tuple(notes))
        except IngestError as exc:
            if not opened:  # the loader records its own rejections
                record_rejection(wh, load_id, dataset, uri, run_id, str(exc))
            raise


@dataclass(frozen=True)
class NewFile:
    """A file to load: the path the warehouse reads, its kind, its identity, any warnings."""

    path: str
    kind: str
    load_id: str
    notes: tuple[str, ...] = ()


def named(exc: Exception, path: str, uri: str) -> Exception:
    """EXC with the file's URI in place of the local path it was read from."""
    if path == uri or path not in str(exc):
        return exc
    return type(exc)(str(exc).replace(path, uri))


def stage_load(wh: Warehouse, parsed: str) -> str:
    """Parse a file once into typed RAW.TRANSACTIONS rows in a staging table.

    The row checks, the gate and publishing all read it. Amounts are cast to the table's
    NUMBER(18, 2) here, inside the file's read, so an amount the table cannot hold rejects
    the file instead of failing the insert.
    """
    return wh.stage_select(
        "RAW.TRANSACTIONS",
        "SELECT source_row, transaction_id, customer_id, txn_ts, "
        "CAST(amount AS NUMBER(18, 2)) AS amount, category, channel, status "
        f"FROM ({parsed}) AS p",
        session_only=True,
    )


def check_load(
    wh: Warehouse,
    staging: str,
    max_ts: str,
    parameters: Mapping[str, object],
    id_range: tuple[str, str] | None = None,
) -> quality.SuiteResult:
    """One pass over a staged load: the raw gate's expectations and the row checks.

    ID_RANGE, the first and last id of a load whose ids rise strictly, proves them unique
    and is their range: the pass then skips its costliest aggregates (a distinct count and
    two string extremes, ~130 of ~150 ms per 2 M-row load).
    """
    if id_range is None:
        return quality.evaluate_suite(
            wh, RAW_SUITE, staging, dict(parameters), ROW_CHECKS, {"max_ts": max_ts}
        )
    checks = {k: v for k, v in ROW_CHECKS.items() if k not in ID_CHECKS}
    result = quality.evaluate_suite(
        wh, RAW_SUITE, staging, dict(parameters), checks, {"max_ts": max_ts}, ["TRANSACTION_ID"]
    )
    result.extra |= {"dup_ids": 0, "min_id": id_range[0], "max_id": id_range[1]}
    return result


# The policy keys (lifeline.toml, [ingest]) that move each raw-gate bound.
POLICY_KEYS = {
    "AMOUNT": "min_amount, max_amount, amount_outlier_share",
    "TXN_TS": "earliest_date, max_future_days",
    "STATUS": "statuses",
    "CHANNEL": "channels",
}


def gate_load(wh: Warehouse, result: quality.SuiteResult, uri: str, run_id: str) -> None:
    """The raw gate's verdict on one load, before anything is published; raises naming it.

    When a policy bound failed the file, the message names the keys that move it.
    """
    try:
        quality.enforce_result(wh, result, run_id)
    except quality.QualityGateError as exc:
        message = f"{uri}: rejected by the raw gate: {exc.checks}"
        keys = [POLICY_KEYS[r.column] for r in result.blocking if r.column in POLICY_KEYS]
        if keys:
            # Widening the statuses alone would count none of those rows as purchases.
            status = "; only 'approved' is a purchase: leave a column of other statuses unmapped"
            extra = status if "statuses" in keys else ""
            message += (
                f" (if these are genuine, widen [ingest] {'; '.join(keys)} in lifeline.toml{extra})"
            )
        raise LoadRejectedError(message) from None


@contextmanager
def timed(report: IngestReport | None) -> Iterator[None]:
    """Add the block's seconds to the report's checking time."""
    start = time.perf_counter()
    try:
        yield
    finally:
        if report is not None:
            report.check_seconds += time.perf_counter() - start


def read_checked(
    wh: Warehouse,
    reading: Reading,
    load_id: str,
    uri: str,
    run_id: str,
    gate: tuple[str, Mapping[str, object]],
    version: str | None,
    report: IngestReport | None,
) -> int | tuple[str, quality.SuiteResult, FileCheck]:
    """Publish a clean file in place (rows), or stage and check it: (staging, gate, stats)."""
    parsed = reading.parsed_select()
    if wh.gates_in_place:
        rows = publish_in_place(
            wh, parsed, load_id, uri, run_id, gate, version, report, reading.skipped_rows
        )
        if rows is not None:
            return rows
    max_ts, gate_parameters = gate
    staging = stage_load(wh, parsed)
    try:
        with timed(report):
            result = check_load(wh, staging, max_ts, gate_parameters)
            check = check_rows(wh, result.extra, staging, uri, max_ts, reading)
    except BaseException:
        wh.drop_table(staging)
        raise
    return staging, result, check


def ingest_transaction_file(
    wh: Warehouse,
    uri: str,
    mapping: Mapping[str, str],
    run_id: str,
    date_format: str | None = None,
    max_ts: str = "9999-12-31",
    policy: IngestPolicy | None = None,
    order_lines: bool = False,
    version: str | None = None,
    report: IngestReport | None = None,
) -> tuple[int, int] | None:
    """Load one transaction file all-or-nothing; None when its content was already loaded.

    Where the warehouse allows (DuckDB), the file goes straight into RAW inside a transaction
    and is checked and gated there; anything flagged rolls back and takes the staged path:
    parsed, checked and gated in a staging table first. A file that fails writes nothing
    to RAW and is recorded in the manifest as rejected, with the reason.
    Returns (rows inserted, rows already present).
    """
    policy = policy or IngestPolicy()
    gate = (max_ts, policy.gate_parameters(max_ts))
    with new_file(wh, uri, "transactions", run_id, version) as found:
        if found is None:
            return None
        path, kind, load_id = found.path, found.kind, found.load_id
        if report is not None:
            report.warnings.extend(found.notes)
        staging = ""
        try:
            with wh.staged_file(path, kind) as (staged, dtypes):
                cols = resolve_columns(list(dtypes), mapping, uri, order_lines)
                reading = Reading(
                    staged,
                    cols,
                    dtypes,
                    date_format,
                    order_lines=order_lines,
                    rows_without_customer=policy.rows_without_customer,
                )
                # once more per layout found (dates, amounts) and to leave out rows without
                # a customer id: at most three times
                while True:
                    try:
                        outcome = read_checked(
                            wh, reading, load_id, uri, run_id, gate, version, report
                        )
                        break
                    except ReadAgain as again:
                        reading = reading.with_fit(again.fit)
                        if report is not None:
                            report.warnings.append(again.fit.note(uri))
                if isinstance(outcome, int):
                    return outcome, 0
                staging, result, check = outcome
        except (IngestError, FileReadError) as exc:  # unreadable or unusable: nothing written
            if staging:
                wh.drop_table(staging)
            exc = named(exc, path, uri)
            record_rejection(wh, load_id, "transactions", uri, run_id, str(exc))
            raise exc from None
        try:
            try:
                with timed(report):
                    gate_load(wh, result, uri, run_id)
            except LoadRejectedError as exc:
                record_rejection(wh, load_id, "transactions", uri, run_id, str(exc))
                raise
            inserted = publish_transactions(
                wh, staging, load_id, uri, run_id, check, version, reading.skipped_rows
            )
        finally:
            wh.drop_table(staging)
    return inserted, check.rows - inserted


def ingest_customer_file(
    wh: Warehouse, uri: str, run_id: str, version: str | None = None
) -> int | None:
    """MERGE one customers file by CUSTOMER_ID; None when its content was already loaded."""
    with new_file(wh, uri, "customers", run_id, version) as found:
        if found is None:
            return None
        path, kind, load_id = found.path, found.kind, found.load_id
        try:
            with wh.staged_file(path, kind) as (staged, dtypes):
                by_upper = {c.upper(): c for c in dtypes}
                if "CUSTOMER_ID" not in by_upper:
                    raise IngestError(f"{uri}: missing required column 'CUSTOMER_ID'")
                present = [c for c in CUSTOMER_COLUMNS if c in by_upper]
                select = ", ".join(f"{quote_source_column(by_upper[c])} AS {c}" for c in present)
                frame = wh.fetch_frame(f"SELECT {select} FROM {staged}")
        except FileReadError as exc:
            raise named(exc, path, uri) from None
    if frame["CUSTOMER_ID"].isna().any():
        raise IngestError(f"{uri}: CUSTOMER_ID has empty values")
    frame = frame.assign(LOAD_ID=load_id, FLOW_RUN_ID=run_id)
    frame["LOADED_AT"] = pd.Timestamp.now("UTC").tz_localize(None)
    try:
        wh.write_frame(frame, "RAW.CUSTOMERS", "merge", ("CUSTOMER_ID",))
    except ValueError as exc:
        raise IngestError(f"{uri}: {exc}") from None
    wh.execute(
        "INSERT INTO raw.load_manifest (load_id, dataset, source_uri, row_count, loaded_at, "
        "flow_run_id, status, source_version) "
        "SELECT :id, 'customers', :uri, :rows, CURRENT_TIMESTAMP(), :run_id, 'loaded', :v",
        {"id": load_id, "uri": uri, "rows": len(frame), "run_id": run_id, "v": version},
    )
    return len(frame)


def unusual_load_size(wh: Warehouse, uri: str, rows: int, ratio: float) -> str | None:
    """A warning when a file is RATIO times bigger or smaller than the recent loads' median."""
    recent = wh.fetch_frame(
        "SELECT row_count FROM raw.load_manifest WHERE dataset = 'transactions' "
        f"AND {LOADED} AND source_uri <> :uri ORDER BY loaded_at DESC LIMIT 10",
        {"uri": uri},
    )["ROW_COUNT"]
    if len(recent) < 3:
        return None  # too little history to call a size unusual
    usual = float(recent.median())
    if usual > 0 and not usual / ratio <= rows <= usual * ratio:
        return f"{uri}: {rows:,} rows, against {usual:,.0f} in a usual recent load"
    return None


def ingest_source(
    wh: Warehouse,
    source: str,
    mapping: Mapping[str, str],
    run_id: str,
    date_format: str | None,
    max_ts: str,
    policy: IngestPolicy | None = None,
    order_lines: bool = False,
) -> IngestReport:
    """Load every new file of SOURCE; each file is all-or-nothing, earlier files stay loaded.

    A rejected file does not stop the others; the run fails at the end, naming each one.
    """
    report = IngestReport()
    customer_files, txn_files = split_portfolio(source)
    for uri, version in customer_files.items():
        loaded = ingest_customer_file(wh, uri, run_id, version)
        report.customers_loaded += loaded or 0
    problems = []
    for done, (uri, version) in enumerate(txn_files.items()):
        progress.advance("ingest (files)", done, len(txn_files))
        try:
            result = ingest_transaction_file(
                wh, uri, mapping, run_id, date_format, max_ts, policy, order_lines, version, report
            )
        except (IngestError, FileReadError) as exc:
            report.rejected.append(uri)
            problems.append(str(exc))
            continue
        if result is None:
            report.files_skipped += 1
            report.skipped.append(uri)
            continue
        report.files_loaded += 1
        report.loaded.append(uri)
        report.rows_loaded += result[0]
        report.rows_already_present += result[1]
        size = unusual_load_size(wh, uri, sum(result), (policy or IngestPolicy()).load_size_ratio)
        if size:
            report.warnings.append(size)
    if len(problems) == 1:
        raise LoadRejectedError(problems[0])
    if problems:
        raise LoadRejectedError(
            f"{len(problems)} of {len(txn_files)} files rejected (nothing of them written): "
            + " | ".join(problems)
        )
    return report
