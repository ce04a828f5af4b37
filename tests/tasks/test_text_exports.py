"""Delimited text as systems export it: every encoding, line ending and layout loads alike."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.ingest import (
    IngestError,
    IngestReport,
    ingest_source,
    ingest_transaction_file,
    parse_mapping,
)
from tasks.ingest.text import LineEndings, inspect_text
from tasks.policy import IngestPolicy
from tasks.warehouse.base import FileReadError

MAP = parse_mapping({"customer_id": "cust", "txn_ts": "date", "amount": "value"})
ROWS = [("Zoë", "1997-01-01", "12.50"), ("B2", "1997-01-02", "7"), ("Ærø", "1997-01-03", "3.25")]
EXPECTED = [["Zoë", "1997-01-01", 12.5], ["B2", "1997-01-02", 7.0], ["Ærø", "1997-01-03", 3.25]]


def export(sep: str = ",", newline: str = "\n", header_newline: str | None = None) -> str:
    """The three rows as a delimited export with the given separator and line endings."""
    header = sep.join(["cust", "date", "value"]) + (header_newline or newline)
    return header + "".join(sep.join(row) + newline for row in ROWS)


def loaded_rows(wh) -> list[list]:
    """RAW.TRANSACTIONS as [customer, day, amount] rows in time order."""
    frame = wh.fetch_frame("SELECT customer_id, txn_ts, amount FROM raw.transactions ORDER BY 2")
    return [[c, str(t.date()), float(a)] for c, t, a in frame.itertuples(index=False)]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("crlf.csv", export(newline="\r\n").encode()),
        ("cr.csv", export(newline="\r").encode()),
        ("header_crlf.csv", export(header_newline="\r\n").encode()),
        ("rows_crlf.csv", export(newline="\r\n", header_newline="\n").encode()),
        ("bom_mixed.csv", b"\xef\xbb\xbf" + export(header_newline="\r\n").encode()),
        ("latin1.csv", export().encode("latin-1")),
        ("cp1252.csv", export(newline="\r\n").encode("cp1252")),
        ("excel_unicode.txt", export(sep="\t", newline="\r\n").encode("utf-16")),
        ("utf16le_no_bom.csv", export().encode("utf-16-le")),
        ("tabs.tsv", export(sep="\t").encode()),
        ("zipped.csv.gz", gzip.compress(export(sep=";").encode())),
        (
            "aligned.txt",
            b"  cust   date        value\r\n  Zo\xc3\xab  1997-01-01  12.50\n"
            b"  B2   1997-01-02   7\n\n  \xc3\x86r\xc3\xb8  1997-01-03  3.25\n",
        ),
    ],
)
def test_text_exports_load_the_same_rows(wh, tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    assert ingest_transaction_file(wh, str(path), MAP, "r") == (3, 0)
    assert loaded_rows(wh) == EXPECTED
    assert ingest_transaction_file(wh, str(path), MAP, "r") is None  # same bytes: skipped
    assert not list(Path(tempfile.gettempdir()).glob("lifeline-text-*"))  # the clean copy is gone


def test_a_windows_1252_file_loads_with_a_warning(wh, tmp_path):
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "shop.csv").write_bytes(
        export().encode("cp1252") + b"\x81x,1997-01-04,1\n"
    )
    report = ingest_source(wh, str(tmp_path / "drop"), MAP, "r", None, "2026-01-01")
    assert report.rows_loaded == 4
    assert report.warnings == [
        f"{tmp_path}/drop/shop.csv: not UTF-8, read as Windows-1252 (Latin-1)"
    ]
    assert wh.scalar("SELECT customer_id FROM raw.transactions WHERE amount = 1") == "\x81x"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b" \r\n\n", "blank.csv: the file is empty"),
        (
            "short.csv",
            b"cust,date,value\nA,1997-01-01,1\nB,1997-01-02\n",
            "line 3 has 2 fields, the header has 3",
        ),
        (
            "long.csv",
            b"cust,date,value\nA,1997-01-01,1,9\n",
            "long.csv: line 2 has 4 fields, the header has 3",
        ),
        (
            "aligned.txt",
            b"cust date value\nA 1997-01-01 1\nB 1997 01 02 1\n",
            "line 3 has 5 fields, the header has 3",
        ),
        (
            "nan.csv",
            b"cust,date,value\nA,1997-01-01,1\nA,1997-01-02,NaN\n",
            "row 2: column amount is not a number \\(value 'NaN'\\)",
        ),
        (
            "inf.csv",
            b"cust,date,value\nA,1997-01-01,-Infinity\n",
            "row 1: column amount is not a number",
        ),
        (
            "huge.csv",
            b"cust,date,value\nA,1997-01-01,1e20\n",
            "row 1: column amount is beyond what NUMBER\\(18, 2\\) holds",
        ),
        ("notes.doc", b"cust,date,value\n", "not a CSV or Parquet file"),
    ],
)
def test_unusable_text_is_one_clear_line_and_writes_nothing(wh, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises((IngestError, FileReadError), match=message) as caught:
        ingest_transaction_file(wh, str(path), MAP, "r")
    assert "\n" not in str(caught.value)
    assert wh.row_count("RAW.TRANSACTIONS") == 0
    if name != "notes.doc":  # a file of an unknown kind is not opened, so it has no identity
        assert wh.scalar("SELECT status FROM raw.load_manifest") == "rejected"


def test_a_nan_amount_in_parquet_names_its_row(wh, tmp_path):
    path = tmp_path / "amounts.parquet"
    days = pa.array(["1997-01-01", "1997-01-02"]).cast(pa.timestamp("s"))
    pq.write_table(pa.table({"cust": ["A", "B"], "date": days, "value": [1.0, float("nan")]}), path)
    with pytest.raises(IngestError, match="amounts.parquet: row 2: column amount is not a number"):
        ingest_transaction_file(wh, str(path), MAP, "r")
    assert wh.row_count("RAW.TRANSACTIONS") == 0


def test_line_endings_are_counted_across_chunk_edges():
    endings = LineEndings()
    for chunk in (b"a,b\r", b"\nc,d\r", b"\n"):
        endings.add(chunk)
    assert (endings.crlf, endings.mixed) == (2, False)
    endings.add(b"e,f\n")
    assert endings.mixed


def test_inspection_finds_invalid_utf8_past_the_first_chunk(tmp_path):
    path = tmp_path / "late.csv"
    path.write_bytes(export().encode() + b"x" * (3 << 20) + b"\nCaf\xe9,1997-01-04,1\n")
    assert inspect_text(str(path), "late.csv").encoding == "cp1252"
    path.write_bytes(export().encode() + b"x" * (3 << 20) + "\nCafé,1997-01-04,1\n".encode())
    shape = inspect_text(str(path), "late.csv")
    assert (shape.encoding, shape.needs_copy) == ("utf-8", False)


def test_an_unrecognised_date_says_how_to_name_its_layout(wh, tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("cust,date,value\nA,the 2nd of January,1\n")
    with pytest.raises(IngestError, match="value 'the 2nd of January'.; give its layout as --date"):
        ingest_transaction_file(wh, str(path), MAP, "r")


def test_a_date_both_ways_round_asks_which(wh, tmp_path):
    path = tmp_path / "us.csv"
    path.write_text("cust,date,value\nA,01/02/1997,1\nB,03/04/1997,2\n")
    with pytest.raises(IngestError, match="reads as MM/DD/YYYY or as DD/MM/YYYY: give its layout"):
        ingest_transaction_file(wh, str(path), MAP, "r")
    assert not wh.row_count("RAW.TRANSACTIONS")
    assert ingest_transaction_file(wh, str(path), MAP, "r", "MM/DD/YYYY") == (2, 0)


@pytest.mark.parametrize(
    ("rows", "layout", "days"),
    [
        (["31/01/1997 10:00", "01/02/1997 09:30"], "DD/MM/YYYY HH24:MI", ["01-31", "02-01"]),
        (["1/31/1997 1:05 PM", "2/1/1997 9:30 AM"], "MM/DD/YYYY HH12:MI AM", ["01-31", "02-01"]),
        (["31.01.1997", "01.02.1997"], "DD.MM.YYYY", ["01-31", "02-01"]),
        (["31-Jan-1997", "01-Feb-1997"], "DD-MON-YYYY", ["01-31", "02-01"]),
    ],
)
def test_a_date_layout_every_value_fits_is_read_with_a_warning(wh, tmp_path, rows, layout, days):
    path = tmp_path / "dates.csv"
    path.write_text("cust,date,value\n" + "".join(f"A,{d},1\n" for d in rows))
    report = IngestReport()
    assert ingest_transaction_file(wh, str(path), MAP, "r", report=report) == (2, 0)
    times = wh.fetch_frame("SELECT txn_ts FROM raw.transactions ORDER BY 1")["TXN_TS"]
    assert [t.strftime("%m-%d") for t in times] == days
    assert report.warnings == [
        f"{path}: column txn_ts read as {layout} (give --date-format to read it otherwise)"
    ]


@pytest.mark.parametrize(
    ("sep", "values", "layout", "amounts"),
    [
        (",", ['"$1,234.50"', "(12.00)", "7", "USD 3"], "1,234.56", [1234.5, -12, 7, 3]),
        (";", ["1.234,50", "0,50", "€ 7", "-3,25"], "1.234,56", [1234.5, 0.5, 7, -3.25]),
        (",", ['"1 234,50"', '"12,5"', "7", "3"], "1.234,56", [1234.5, 12.5, 7, 3]),
        (",", ["1’234.50", "£12", "7", "3"], "1,234.56", [1234.5, 12, 7, 3]),
    ],
)
def test_amounts_with_grouping_decimal_commas_or_currency_load(
    wh, tmp_path, sep, values, layout, amounts
):
    path = tmp_path / "amounts.csv"
    lines = [sep.join(["cust", "date", "value"])]
    lines += [sep.join([f"C{i}", f"1997-01-0{i + 1}", v]) for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    report = IngestReport()
    assert ingest_transaction_file(wh, str(path), MAP, "r", report=report) == (4, 0)
    assert [a for _, _, a in loaded_rows(wh)] == amounts
    assert report.warnings == [f"{path}: column amount read as {layout}"]


def test_one_bad_amount_among_decimal_commas_is_named_by_its_own_row(wh, tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("cust;date;value\nA;1997-01-01;1.234,50\nB;1997-01-02;n/a\nC;1997-01-03;0,5\n")
    with pytest.raises(IngestError, match="row 2: column amount is not a number .value 'n/a'.$"):
        ingest_transaction_file(wh, str(path), MAP, "r")
    assert not wh.row_count("RAW.TRANSACTIONS")


@pytest.mark.parametrize(
    "values",
    [
        [852076800, 852163200],  # Unix seconds
        [852076800000, 852163200000],  # milliseconds
        [852076800000000000, 852163200000000000],  # nanoseconds
        [19970101, 19970102],  # YYYYMMDD as a number
        [19970101.0, 19970102.0],  # the same after a trip through pandas
        [19970101103000, 19970102000000],  # YYYYMMDDHHMISS
        [35431.4375, 35432.0],  # spreadsheet serial days (Excel, Sheets)
    ],
)
def test_numeric_times_are_epochs_or_yyyymmdd(wh, tmp_path, values):
    path = tmp_path / "times.parquet"
    pq.write_table(pa.table({"cust": ["A", "B"], "date": values, "value": [1.0, 2.0]}), path)
    assert ingest_transaction_file(wh, str(path), MAP, "r") == (2, 0)
    times = wh.fetch_frame("SELECT txn_ts FROM raw.transactions ORDER BY 1")["TXN_TS"]
    assert [str(t.date()) for t in times] == ["1997-01-01", "1997-01-02"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("35431.4375", "1997-01-01 10:30:00"),  # a spreadsheet serial day, as text
        ("852114600", "1997-01-01 10:30:00"),  # Unix seconds, as text
        ("19970101103000", "1997-01-01 10:30:00"),
        ("19970101", "1997-01-01 00:00:00"),
    ],
)
def test_numeric_times_in_text_read_as_numbers_do(wh, tmp_path, text, expected):
    path = tmp_path / "times.csv"
    path.write_text(f"cust,date,value\nA,{text},1\n")
    assert ingest_transaction_file(wh, str(path), MAP, "r") == (1, 0)
    assert str(wh.scalar("SELECT txn_ts FROM raw.transactions")) == expected


def test_a_nan_time_names_its_row(wh, tmp_path):
    path = tmp_path / "times.parquet"
    table = pa.table({"cust": ["A", "B"], "date": [852076800.0, float("nan")], "value": [1.0, 2.0]})
    pq.write_table(table, path)
    with pytest.raises(IngestError, match="row 2: column txn_ts is not a recognised date/time"):
        ingest_transaction_file(wh, str(path), MAP, "r")


@pytest.mark.parametrize(
    ("row", "keys"),
    [
        ("A,1997-01-01,5000000,approved", "min_amount, max_amount, amount_outlier_share"),
        ("A,1850-01-01,5,approved", "earliest_date, max_future_days"),
        ("A,1997-01-01,5,completed", "statuses in lifeline.toml; only 'approved' is a purchase"),
    ],
)
def test_a_policy_rejection_names_the_keys_that_move_its_bound(wh, tmp_path, row, keys):
    path = tmp_path / "odd.csv"
    path.write_text(f"cust,date,value,st\n{row}\n")
    mapping = {**MAP, "status": "st"}
    with pytest.raises(IngestError, match="rejected by the raw gate") as caught:
        ingest_transaction_file(wh, str(path), mapping, "r", max_ts="2026-01-01")
    assert f"widen [ingest] {keys}" in str(caught.value)


def test_whole_number_ids_lose_the_point_zero_pandas_gives_them(wh, tmp_path):
    (tmp_path / "drop").mkdir()
    floats = tmp_path / "drop" / "floats.parquet"
    table = pa.table({"cust": [17850.0, 12.5], "date": ["1997-01-01"] * 2, "value": [1.0, 2.0]})
    pq.write_table(table, floats)
    text = tmp_path / "drop" / "text.csv"
    text.write_text(
        "cust,date,value\n17850.0,1997-01-02,3\n17850,1997-01-03,4\nA1.0,1997-01-04,5\n"
    )
    report = ingest_source(wh, str(tmp_path / "drop"), MAP, "r", None, "2026-01-01")
    assert report.rows_loaded == 5
    ids = wh.fetch_frame("SELECT customer_id FROM raw.transactions ORDER BY amount")["CUSTOMER_ID"]
    assert ids.tolist() == ["17850", "12.5", "17850", "17850", "A1.0"]


def test_a_nan_customer_id_names_its_row(wh, tmp_path):
    path = tmp_path / "ids.parquet"
    table = pa.table({"cust": [1.0, float("nan")], "date": ["1997-01-01"] * 2, "value": [1.0, 2.0]})
    pq.write_table(table, path)
    with pytest.raises(IngestError, match="row 2: column customer_id is empty"):
        ingest_transaction_file(wh, str(path), MAP, "r")


GUESTS = "cust,date,value\nA,1997-01-01,5\n,1997-01-02,6\nB,1997-01-03,7\n  ,1997-01-04,8\n"


def test_rows_without_a_customer_reject_the_file_with_the_policy_that_skips_them(wh, tmp_path):
    path = tmp_path / "guests.csv"
    path.write_text(GUESTS)
    with pytest.raises(IngestError) as caught:
        ingest_transaction_file(wh, str(path), MAP, "r")
    message = str(caught.value)
    assert "row 2: column customer_id is empty (2 rows have no customer id" in message
    assert 'rows_without_customer = "skip" under [ingest]' in message
    assert wh.row_count("RAW.TRANSACTIONS") == 0


@pytest.mark.parametrize("in_place", [True, False], ids=["in place", "staged"])
def test_the_skip_policy_loads_the_other_rows_and_counts_those_left_out(wh, tmp_path, in_place):
    wh.gates_in_place = in_place  # Snowflake's path stages the file first
    path = tmp_path / "guests.csv"
    path.write_text(GUESTS)
    report = IngestReport()
    skip = IngestPolicy(rows_without_customer="skip")
    assert ingest_transaction_file(wh, str(path), MAP, "r", policy=skip, report=report) == (2, 0)
    assert loaded_rows(wh) == [["A", "1997-01-01", 5.0], ["B", "1997-01-03", 7.0]]
    assert report.warnings == [
        f'{path}: 2 rows without a customer id left out ([ingest] rows_without_customer = "skip")'
    ]
    assert ingest_transaction_file(wh, str(path), MAP, "r", policy=skip) is None  # loaded once
    # the manifest accounts for every row of the file: two loaded, two left out
    manifest = wh.fetch_frame("SELECT row_count, rows_skipped, status FROM raw.load_manifest")
    assert manifest.values.tolist() == [[2, 2, "loaded"]]


def test_a_file_with_every_customer_records_none_skipped(wh, tmp_path):
    path = tmp_path / "all.csv"
    path.write_text(export())
    skip = IngestPolicy(rows_without_customer="skip")
    assert ingest_transaction_file(wh, str(path), MAP, "r", policy=skip) == (3, 0)
    assert wh.scalar("SELECT rows_skipped FROM raw.load_manifest") == 0


def test_skipping_guest_lines_keeps_the_customers_baskets_whole(wh, tmp_path):
    path = tmp_path / "lines.parquet"
    table = pa.table(
        {
            "Invoice": ["1", "1", "2", "2", "3"],
            "cust": [17850.0, 17850.0, float("nan"), float("nan"), 13047.0],
            "date": ["1997-01-01"] * 5,
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    pq.write_table(table, path)
    mapping = {**MAP, "transaction_id": "Invoice"}
    skip = IngestPolicy(rows_without_customer="skip")
    loaded = ingest_transaction_file(wh, str(path), mapping, "r", policy=skip, order_lines=True)
    assert loaded == (2, 0)
    frame = wh.fetch_frame("SELECT customer_id, amount FROM raw.transactions ORDER BY 1")
    assert frame.values.tolist() == [["13047", 5.0], ["17850", 3.0]]
    # the two guest lines of basket 2, beside the two baskets loaded
    assert wh.fetch_frame(
        "SELECT row_count, rows_skipped FROM raw.load_manifest"
    ).values.tolist() == [[2, 2]]


def test_a_file_of_guests_only_says_so(wh, tmp_path):
    path = tmp_path / "only.csv"
    path.write_text("cust,date,value\n,1997-01-01,5\n")
    skip = IngestPolicy(rows_without_customer="skip")
    with pytest.raises(IngestError, match="no row has a customer id"):
        ingest_transaction_file(wh, str(path), MAP, "r", policy=skip)


def test_a_column_mixing_date_layouts_says_so_and_writes_nothing(wh, tmp_path):
    # The day-first row sets the layout; the ISO row is then the one it misses.
    path = tmp_path / "mixed.csv"
    path.write_text("cust,date,value\nA,1997-01-02,1\nB,31/01/1997,2\nC,1997-01-03,3\n")
    message = (
        "row 1: column txn_ts mixes date layouts: '1997-01-02' is not DD/MM/YYYY, the layout "
        "of its other values; export the column in one layout$"
    )
    with pytest.raises(IngestError, match=message):
        ingest_transaction_file(wh, str(path), MAP, "r")
    assert not wh.row_count("RAW.TRANSACTIONS")


def test_headers_with_spaces_and_currency_signs_load(wh, tmp_path):
    path = tmp_path / "retail.csv"
    path.write_text("Customer ID;Invoice Date;Price (€)\n13085;2009-12-01 07:45;6,95\n")
    mapping = {"customer_id": "Customer ID", "txn_ts": "Invoice Date", "amount": "Price (€)"}
    assert ingest_transaction_file(wh, str(path), mapping, "r") == (1, 0)
    assert loaded_rows(wh) == [["13085", "2009-12-01", 6.95]]


RETAIL = (
    "Invoice;Quantity;InvoiceDate;Price;Customer ID\n"
    "489434;12;2009-12-01 07:45:00;6,95;13085.0\n"
    "489434;12;2009-12-01 07:45:00;6,75;13085.0\n"
    "C489449;-12;2009-12-01 10:33:00;2,95;16321.0\n"
)
RETAIL_MAP = {
    "customer_id": "Customer ID",
    "txn_ts": "InvoiceDate",
    "amount": "Price",
    "transaction_id": "Invoice",
}


def test_unit_prices_times_a_mapped_quantity_are_the_lines_value(wh, tmp_path):
    # The UCI Online Retail II export: order lines with unit price and quantity, a
    # cancellation as a negative quantity, and (here) decimal commas in the prices.
    path = tmp_path / "retail.csv"
    path.write_text(RETAIL)
    mapping = parse_mapping({**RETAIL_MAP, "quantity": "Quantity"})
    assert ingest_transaction_file(wh, str(path), mapping, "r", order_lines=True) == (2, 0)
    assert loaded_rows(wh) == [["13085", "2009-12-01", 164.4], ["16321", "2009-12-01", -35.4]]


def test_a_quantity_column_is_read_only_when_mapped(wh, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("cust,date,value,quantity\nA,1997-01-01,24.00,2\n")
    assert ingest_transaction_file(wh, str(path), MAP, "r") == (1, 0)
    assert loaded_rows(wh) == [["A", "1997-01-01", 24.0]]  # a line total stays as it is


def test_a_bad_quantity_names_the_price_and_the_quantity(wh, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_text("cust,date,value,qty\nA,1997-01-01,6.95,12\nB,1997-01-02,2.55,twelve\n")
    mapping = parse_mapping({**MAP, "quantity": "qty"})
    match = "row 2: column amount x quantity is not a number .values '2.55' x 'twelve'.$"
    with pytest.raises(IngestError, match=match):
        ingest_transaction_file(wh, str(path), mapping, "r")
    assert not wh.row_count("RAW.TRANSACTIONS")
