"""Ingestion: idempotent per file, all-or-nothing, clear errors for bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tasks.ingest import (
    IngestError,
    ingest_customer_file,
    ingest_source,
    ingest_transaction_file,
    parse_mapping,
    split_portfolio,
)
from tasks.policy import IngestPolicy
from tasks.warehouse.base import FileReadError

LOG = "cust,date,value\nA1,19970101,12.50\nA1,19970105,-3.00\nB2,19970102,7\nA1,19970101,12.50\n"
MAP = {"customer_id": "cust", "txn_ts": "date", "amount": "value"}


def write(tmp_path: Path, name: str, text: str) -> str:
    """Write a small source file and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def load(wh, path: str, mapping=MAP, **kw):
    """Ingest one transaction file with the cust/date/value mapping."""
    return ingest_transaction_file(wh, path, parse_mapping(mapping), "run-1", **kw)


@pytest.mark.scenario(1)
def test_portfolio_ingest_is_idempotent(wh, portfolio):
    customers, files = split_portfolio(str(portfolio))
    for f in customers:
        assert ingest_customer_file(wh, f, "r") > 0
    loaded = sum(ingest_transaction_file(wh, f, {}, "r")[0] for f in files)
    before = wh.row_count("RAW.TRANSACTIONS")
    assert loaded == before > 0
    assert all(ingest_transaction_file(wh, f, {}, "r") is None for f in files)
    assert all(ingest_customer_file(wh, f, "r") is None for f in customers)
    assert wh.row_count("RAW.TRANSACTIONS") == before
    assert wh.row_count("RAW.LOAD_MANIFEST") == len(files) + len(customers)


def test_customer_date_value_log_with_mapping(wh, tmp_path):
    path = write(tmp_path, "log.csv", LOG)
    assert load(wh, path) == (4, 0)
    rows = wh.fetch_frame("SELECT * FROM raw.transactions ORDER BY txn_ts, amount")
    assert str(rows["TXN_TS"].iloc[0].date()) == "1997-01-01"
    assert rows["AMOUNT"].astype(float).tolist() == [12.5, 12.5, 7.0, -3.0]  # refund kept
    assert rows["TRANSACTION_ID"].nunique() == 4  # identical rows get distinct derived ids
    assert load(wh, path) is None
    # the same transactions in another file (new content hash) add nothing either
    copy = write(tmp_path, "log2.csv", LOG + "B2,19970103,1\n")
    assert load(wh, copy) == (1, 4)
    assert wh.row_count("RAW.TRANSACTIONS") == 5


def test_ids_lose_surrounding_spaces_only(wh, tmp_path):
    text = "id,cust,date,value\n T 1 ,  A 1,19970101,1\nT2,B2 ,19970102,2\nT3,C3,19970103,3\n"
    assert load(wh, write(tmp_path, "ids.csv", text), MAP | {"transaction_id": "id"}) == (3, 0)
    rows = wh.fetch_frame("SELECT transaction_id, customer_id FROM raw.transactions ORDER BY 1")
    assert rows.values.tolist() == [["T 1", "A 1"], ["T2", "B2"], ["T3", "C3"]]
    blank = write(tmp_path, "blank.csv", "cust,date,value\nA,19970101,1\n   ,19970102,2\n")
    with pytest.raises(IngestError, match="row 2: column customer_id is empty"):
        load(wh, blank)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cust,date\nA,19970101\n", "missing required column 'value' for amount"),
        ("cust,date,value\nA,19970101,1\nA,1997x0102,2\n", "row 2: column txn_ts is not a recog"),
        ("cust,date,value\nA,19970101,1\nA,19970102,abc\n", "row 2: column amount is not a number"),
        ("cust,date,value\n,19970101,1\n", "row 1: column customer_id is empty"),
        ("cust,date,value\nA,29970101,1\n", "row 1: column txn_ts is in the future"),
        ("cust,date,value\nA,19970101,5000000\n", "rejected by the raw gate.*AMOUNT"),
        ("cust,date,value\n", "no data rows"),
    ],
)
def test_bad_csv_is_rejected_and_nothing_is_loaded(wh, tmp_path, text, message):
    load(wh, write(tmp_path, "good.csv", LOG))
    before = wh.row_count("RAW.TRANSACTIONS")
    with pytest.raises(IngestError, match=message):
        load(wh, write(tmp_path, "bad.csv", text), max_ts="2026-01-01")
    assert wh.row_count("RAW.TRANSACTIONS") == before
    manifest = wh.fetch_frame("SELECT status, reason FROM raw.load_manifest ORDER BY status")
    assert manifest["STATUS"].tolist() == ["loaded", "rejected"]
    assert "bad.csv" in manifest["REASON"].iloc[1]


@pytest.mark.scenario(20)
def test_rejected_load_writes_nothing_and_loads_after_a_policy_change(wh, tmp_path):
    path = write(tmp_path, "old.csv", LOG)
    strict = IngestPolicy(earliest_date=dt.date(2000, 1, 1))
    with pytest.raises(IngestError, match="old.csv: rejected by the raw gate.*TXN_TS"):
        load(wh, path, policy=strict)
    assert wh.row_count("RAW.TRANSACTIONS") == 0
    assert wh.scalar("SELECT status FROM raw.load_manifest") == "rejected"
    assert load(wh, path) == (4, 0)  # the default policy accepts 1997: the same file loads
    assert load(wh, path) is None  # and is then skipped as loaded
    statuses = wh.fetch_frame("SELECT status FROM raw.load_manifest ORDER BY loaded_at")
    assert statuses["STATUS"].tolist() == ["rejected", "loaded"]


def test_one_rejected_file_does_not_stop_the_others(wh, tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    write(folder, "a.csv", LOG)
    write(folder, "b.csv", "cust,date,value\nZ,19970101,5000000\n")
    with pytest.raises(IngestError, match="b.csv: rejected"):
        ingest_source(wh, str(folder), parse_mapping(MAP), "r", None, "2026-01-01")
    assert wh.row_count("RAW.TRANSACTIONS") == 4


def test_order_lines_are_summed_per_transaction(wh, tmp_path):
    text = (
        "basket,hh,ts,value\n"
        "B1,H1,2017-01-01 10:00:00,2.50\nB1,H1,2017-01-01 10:00:05,7.50\nB2,H2,2017-01-02,1\n"
    )
    mapping = {"transaction_id": "basket", "customer_id": "hh", "txn_ts": "ts", "amount": "value"}
    assert load(wh, write(tmp_path, "lines.csv", text), mapping, order_lines=True) == (2, 0)
    rows = wh.fetch_frame("SELECT transaction_id, amount, txn_ts FROM raw.transactions ORDER BY 1")
    assert rows["AMOUNT"].astype(float).tolist() == [10.0, 1.0]
    assert str(rows["TXN_TS"].iloc[0]) == "2017-01-01 10:00:00"
    bad = "basket,hh,ts,value\nB9,H1,2017-01-01,1\nB9,H1,2017-01-01,x\n"
    with pytest.raises(IngestError, match="amount is not a number"):
        load(wh, write(tmp_path, "bad_lines.csv", bad), mapping, order_lines=True)
    with pytest.raises(IngestError, match="missing required column 'transaction_id'"):
        load(wh, write(tmp_path, "no_ids.csv", LOG), MAP, order_lines=True)


def test_an_amount_the_table_cannot_hold_rejects_the_file_even_within_the_outlier_share(
    wh, tmp_path
):
    rows = "".join(f"A{i},19970101,{i}.50\n" for i in range(1, 200))
    path = write(tmp_path, "huge.csv", "cust,date,value\n" + rows + "Z,19970102,1e20\n")
    generous = IngestPolicy(max_amount=1e21)  # one row in 200 is inside the outlier share
    with pytest.raises(IngestError, match="huge.csv: row 200: column amount is beyond what"):
        load(wh, path, policy=generous)
    assert wh.row_count("RAW.TRANSACTIONS") == 0
    manifest = wh.fetch_frame("SELECT status FROM raw.load_manifest")
    assert manifest["STATUS"].tolist() == ["rejected"]


def test_duplicate_ids_in_a_file(wh, tmp_path):
    text = "id,cust,date,value\nT1,A,19970101,1\nT1,A,19970102,2\n"
    with pytest.raises(IngestError, match="1 duplicate transaction ids"):
        load(wh, write(tmp_path, "d.csv", text), {**MAP, "transaction_id": "id"})
    assert wh.row_count("RAW.TRANSACTIONS") == 0


@pytest.mark.parametrize(
    ("name", "content", "error", "message"),
    [
        ("x.json", "{}", IngestError, "not a CSV or Parquet"),
        ("x.parquet", "not parquet", FileReadError, "cannot read as parquet"),
        (
            "ragged.csv",
            "cust,date,value\nA,19970101,1,9,9\nA\n",
            FileReadError,
            "ragged.csv: line 2 has 5 fields, the header has 3$",
        ),
    ],
)
def test_unreadable_files(wh, tmp_path, name, content, error, message):
    with pytest.raises(error, match=message):
        load(wh, write(tmp_path, name, content))
    assert wh.row_count("RAW.TRANSACTIONS") == 0


def test_unknown_role_and_unsafe_column_are_rejected():
    with pytest.raises(IngestError, match="unknown column role"):
        parse_mapping({"customer": "x"})
    with pytest.raises(IngestError, match="unsafe identifier"):
        parse_mapping({"amount": 'x"; drop table t;--'})
    with pytest.raises(IngestError, match="unsafe identifier"):
        parse_mapping({"amount": "Sales\nTotal"})


def test_column_names_as_exports_write_them_are_mapped():
    # Excel and the UCI Online Retail II export: spaces, brackets, currency signs
    mapping = {"customer_id": " Customer ID ", "amount": "Sales (€)", "txn_ts": "Order Date"}
    assert parse_mapping(mapping) == {
        "customer_id": "Customer ID",
        "amount": "Sales (€)",
        "txn_ts": "Order Date",
    }


@pytest.fixture
def s3(monkeypatch):
    """An in-process S3 (moto) with a landing bucket."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="landing")
        yield client


@pytest.fixture
def downloads(monkeypatch) -> list[str]:
    """Every S3 object the ingest downloads (the real download still happens)."""
    import tasks.s3

    seen: list[str] = []
    real = tasks.s3.download_s3_file

    def spy(uri, folder):
        seen.append(uri)
        return real(uri, folder)

    monkeypatch.setattr(tasks.s3, "download_s3_file", spy)
    return seen


def test_s3_source(wh, s3):
    s3.put_object(Bucket="landing", Key="exports/2025/log.csv", Body=LOG.encode())
    _, files = split_portfolio("s3://landing/exports/")
    assert list(files) == ["s3://landing/exports/2025/log.csv"]
    [(uri, version)] = files.items()
    assert load(wh, uri, version=version) == (4, 0)
    assert load(wh, uri, version=version) is None
    manifest = wh.fetch_frame("SELECT source_uri, source_version FROM raw.load_manifest")
    assert manifest.values.tolist() == [[uri, version]]


def s3_ingest(wh, source="s3://landing/exports/"):
    """One hourly ingest of the landing prefix."""
    return ingest_source(wh, source, parse_mapping(MAP), "run", None, "9999-12-31")


def test_s3_ingest_downloads_only_new_or_changed_objects(wh, s3, downloads):
    s3.put_object(Bucket="landing", Key="exports/a.csv", Body=LOG.encode())
    assert s3_ingest(wh).files_loaded == 1 and downloads == ["s3://landing/exports/a.csv"]
    s3.put_object(Bucket="landing", Key="exports/b.csv", Body=b"cust,date,value\nC3,19970103,5\n")
    report = s3_ingest(wh)
    assert (report.files_loaded, report.files_skipped) == (1, 1)
    assert downloads[1:] == ["s3://landing/exports/b.csv"]  # a.csv was not downloaded again
    # a copy under a new key is read once; a replaced object (new ETag) is read and loaded
    s3.copy_object(Bucket="landing", Key="exports/c.csv", CopySource="landing/exports/b.csv")
    s3.put_object(Bucket="landing", Key="exports/a.csv", Body=b"cust,date,value\nD4,19970104,9\n")
    report = s3_ingest(wh)
    assert (report.files_loaded, report.files_skipped) == (1, 2)
    assert sorted(downloads[2:]) == ["s3://landing/exports/a.csv", "s3://landing/exports/c.csv"]
    assert s3_ingest(wh).files_skipped == 3 and len(downloads) == 4
    assert wh.row_count("RAW.TRANSACTIONS") == 6
    statuses = wh.fetch_frame("SELECT status FROM raw.load_manifest ORDER BY status")
    assert statuses["STATUS"].tolist() == ["duplicate", "loaded", "loaded", "loaded"]


def test_an_s3_export_in_utf16_loads_and_errors_name_the_object(wh, s3, downloads):
    text = LOG.replace(",", "\t").replace("\n", "\r\n")
    s3.put_object(Bucket="landing", Key="exports/excel.txt", Body=text.encode("utf-16"))
    assert s3_ingest(wh).rows_loaded == 4
    s3.put_object(Bucket="landing", Key="exports/z.csv", Body=b"cust,date,value\nA,1997\n")
    with pytest.raises(IngestError, match="^s3://landing/exports/z.csv: line 2 has 2 fields"):
        s3_ingest(wh)


def test_s3_portfolio_loads_customer_files_too(wh, s3, downloads):
    s3.put_object(Bucket="landing", Key="p/customers/c.csv", Body=b"customer_id,state\nA1,TX\n")
    s3.put_object(Bucket="landing", Key="p/transactions/t.csv", Body=LOG.encode())
    report = s3_ingest(wh, "s3://landing/p")
    assert (report.customers_loaded, report.files_loaded) == (1, 1)
    assert wh.scalar("SELECT state FROM raw.customers WHERE customer_id = 'A1'") == "TX"
    assert s3_ingest(wh, "s3://landing/p").files_skipped == 1 and len(downloads) == 2


def test_id_ranges_limit_the_duplicate_search_but_never_miss_an_overlap(wh, tmp_path):
    ids = {**MAP, "transaction_id": "id"}

    def file(name: str, numbers: range) -> str:
        rows = "".join(f"T{n:03d},A,1997010{n % 9 + 1},{n}\n" for n in numbers)
        return write(tmp_path, name, "id,cust,date,value\n" + rows)

    assert load(wh, file("a.csv", range(1, 4)), ids) == (3, 0)
    assert load(wh, file("b.csv", range(3, 6)), ids) == (2, 1)  # T003 overlaps
    assert load(wh, file("c.csv", range(7, 10)), ids) == (3, 0)  # disjoint range
    ranges = wh.fetch_frame(
        "SELECT min_transaction_id, max_transaction_id FROM raw.load_manifest ORDER BY 1"
    )
    assert ranges.values.tolist() == [["T001", "T003"], ["T003", "T005"], ["T007", "T009"]]
    assert wh.scalar("SELECT COUNT(DISTINCT transaction_id) FROM raw.transactions") == 8


@pytest.mark.parametrize("order", ["rising", "shuffled"])
def test_ids_in_order_skip_the_distinct_count_with_the_same_verdict(
    wh, tmp_path, monkeypatch, order
):
    from tasks.ingest import loading

    calls: list[tuple] = []
    check_load = loading.check_load

    def spy(*args):
        calls.append((args[-1], check_load(*args)))
        return calls[-1][1]

    monkeypatch.setattr(loading, "check_load", spy)
    numbers = [1, 2, 3, 10, 11, 20] if order == "rising" else [3, 1, 20, 2, 11, 10]
    rows = "".join(f"T{n:02d},A{n % 3},1997010{n % 9 + 1},{n}\n" for n in numbers)
    ids = {**MAP, "transaction_id": "id"}
    assert load(wh, write(tmp_path, "t.csv", "id,cust,date,value\n" + rows), ids) == (6, 0)
    [(id_range, result)] = calls
    assert id_range == (("T01", "T20") if order == "rising" else None)
    unique = [r for r in result.results if r.type.endswith("to_be_unique")]
    assert [(r.column, r.success, r.observed) for r in unique] == [("TRANSACTION_ID", True, 0)]
    assert (result.extra["dup_ids"], result.extra["min_id"], result.extra["max_id"]) == (
        0,
        "T01",
        "T20",
    )
    manifest = wh.fetch_frame(
        "SELECT min_transaction_id, max_transaction_id FROM raw.load_manifest"
    )
    assert manifest.values.tolist() == [["T01", "T20"]]


@pytest.mark.parametrize("numbers", [[1, 2, 2, 3], [2, 1, 3, 1], [1, 3, 2, 3]])
def test_a_repeated_id_is_found_in_any_order(wh, tmp_path, numbers):
    rows = "".join(f"T{n},A,1997010{i + 1},{n}\n" for i, n in enumerate(numbers))
    with pytest.raises(IngestError, match="1 duplicate transaction ids"):
        load(
            wh,
            write(tmp_path, "d.csv", "id,cust,date,value\n" + rows),
            {**MAP, "transaction_id": "id"},
        )
    assert wh.row_count("RAW.TRANSACTIONS") == 0


def test_a_clean_file_is_gated_in_raw_itself_and_a_flagged_one_through_staging(
    wh, tmp_path, monkeypatch
):
    from tasks.ingest import loading

    staged: list[str] = []
    stage_load = loading.stage_load
    monkeypatch.setattr(loading, "stage_load", lambda w, p: staged.append(p) or stage_load(w, p))
    ids = {**MAP, "transaction_id": "id"}
    rows = "".join(f"T{n},A{n % 3},1997010{n},{n}.25\n" for n in range(1, 8))
    assert load(wh, write(tmp_path, "clean.csv", "id,cust,date,value\n" + rows), ids) == (7, 0)
    assert staged == []  # inserted, checked and gated inside one transaction
    gate = wh.fetch_frame("SELECT suite_name, success FROM ops.quality_results")
    assert gate.values.tolist() == [["raw_transactions", True]]
    assert wh.row_count("RAW.CUSTOMERS") == 3
    manifest = wh.fetch_frame(
        "SELECT row_count, min_transaction_id, max_transaction_id, status FROM raw.load_manifest"
    )
    assert manifest.values.tolist() == [[7, "T1", "T7", "loaded"]]
    # An overlap with that load rolls the in-place attempt back: only the new id stays.
    again = "id,cust,date,value\nT7,A1,19970107,7.25\nT8,A2,19970108,8.25\n"
    assert load(wh, write(tmp_path, "again.csv", again), ids) == (1, 1)
    assert len(staged) == 1
    assert wh.row_count("RAW.TRANSACTIONS") == 8
    views = wh.fetch_frame("SELECT view_name FROM duckdb_views() WHERE NOT internal")
    assert views.empty  # the load's view is gone


@pytest.fixture
def landing_stage(s3, monkeypatch):
    """The Snowflake adapter on fakesnow with RAW.LANDING over s3://landing/drop/.

    fakesnow 0.12 runs neither COPY with a transformation nor temporary tables in a schema,
    and cannot read S3 (DuckDB 2 has no httpfs wheel here). So `copy_file`, the one function
    that issues the COPY, is stood in for by the same load in SQL fakesnow runs, reading
    the object from moto; everything around it (listing, header read, manifest, duplicate
    check, gates, publish) is the real code. The statements themselves are checked below.
    """
    import csv
    import io

    import fakesnow
    import snowflake.connector

    import tasks.warehouse.snowflake as adapter

    copies: list[str] = []

    def copy_from_s3(cur, table, location, kind, header, delimiter=","):
        copies.append(location)
        stage, key = location.split("/", 1)
        assert stage == "@RAW.LANDING"
        body = s3.get_object(Bucket="landing", Key=f"drop/{key}")["Body"].read().decode()
        names = [h.strip().upper() for h in header]
        cur.execute(
            f"CREATE TABLE {table} ("
            + ", ".join(f'"{n}" VARCHAR' for n in names)
            + ", SOURCE_ROW NUMBER)"
        )
        rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))[1:]
        for number, row in enumerate(rows, start=1):
            marks = ", ".join(["%s"] * (len(row) + 1))
            cur.execute(f"INSERT INTO {table} VALUES ({marks})", [*row, number])

    monkeypatch.setattr(adapter, "copy_file", copy_from_s3)
    with fakesnow.patch("snowflake.connector.pandas_tools.write_pandas"):
        sf = adapter.SnowflakeWarehouse(
            snowflake.connector.connect(), "LIFELINE", ("RAW.LANDING", "s3://landing/drop/")
        )
        sf.bootstrap()

        def land(key: str, body: bytes) -> None:
            s3.put_object(Bucket="landing", Key=f"drop/{key}", Body=body)

        yield sf, land, copies


def drop_ingest(sf):
    """One hourly ingest of the landing stage's prefix."""
    return ingest_source(sf, "s3://landing/drop", parse_mapping(MAP), "run", None, "9999-12-31")


def test_files_under_the_landing_stage_load_by_copy_into_without_a_download(
    landing_stage, downloads
):
    sf, land, copies = landing_stage
    land("customers/c.csv", b"customer_id,state\nA1,TX\n")
    land("transactions/t.csv", LOG.encode())
    report = drop_ingest(sf)
    assert (report.customers_loaded, report.rows_loaded) == (1, 4)
    assert downloads == []  # the rows went from S3 to Snowflake, not through the worker
    assert copies == ["@RAW.LANDING/customers/c.csv", "@RAW.LANDING/transactions/t.csv"]
    assert sf.scalar("SELECT COUNT(*) FROM raw.transactions") == 4

    land("transactions/copy-of-t.csv", LOG.encode())  # same bytes, same ETag
    again = drop_ingest(sf)
    assert (again.files_loaded, again.files_skipped) == (0, 2)
    statuses = sf.fetch_frame(
        "SELECT source_uri, status FROM raw.load_manifest WHERE dataset = 'transactions'"
    )
    assert dict(statuses.values.tolist()) == {
        "s3://landing/drop/transactions/t.csv": "loaded",
        "s3://landing/drop/transactions/copy-of-t.csv": "duplicate",
    }
    assert downloads == [] and len(copies) == 2
    assert sf.scalar("SELECT COUNT(*) FROM raw.transactions") == 4


def test_a_semicolon_object_in_the_stage_is_copied_with_its_delimiter(landing_stage, downloads):
    sf, land, copies = landing_stage
    land("transactions/semi.csv", b"\xef\xbb\xbf" + LOG.replace(",", ";").encode())
    assert drop_ingest(sf).rows_loaded == 4
    assert downloads == [] and copies == ["@RAW.LANDING/transactions/semi.csv"]
    assert sf.scalar("SELECT SUM(amount) FROM raw.transactions") == 29


def test_a_key_outside_the_stage_or_unsafe_in_a_stage_path_goes_through_the_worker(landing_stage):
    sf, _, _ = landing_stage
    assert sf.reads_in_place("s3://landing/drop/transactions/2025-01-01.csv")
    assert not sf.reads_in_place("s3://landing/elsewhere/t.csv")
    assert not sf.reads_in_place("s3://landing/drop/it's here.csv")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_copy_statements_are_snowflake_sql_reading_the_stage_path(kind):
    import sqlglot

    from tasks.warehouse.snowflake import copy_file

    class Statements(list):
        def execute(self, text):
            self.append(text)

    issued = Statements()
    location = "@RAW.LANDING/transactions/t.csv"
    copy_file(issued, "RAW.INGEST_1", location, kind, ["Customer ID", "date"], "\t")
    for text in issued:
        sqlglot.parse_one(text, read="snowflake")  # raises on a statement Snowflake would not parse
    copy = issued[-1]
    assert copy.startswith("COPY INTO RAW.INGEST_1") and "@RAW.LANDING/transactions/t.csv" in copy
    assert "ON_ERROR = ABORT_STATEMENT" in copy
    assert ("FIELD_DELIMITER = '\\t'" in copy) == (kind == "csv")
    assert ('"CUSTOMER ID" VARCHAR' in issued[0]) == (kind == "csv")
