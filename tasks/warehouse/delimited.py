"""Reading delimited text files: gzip, the header line, the delimiter, a ragged row."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import IO

DELIMITERS = (",", ";", "\t", "|")
# Each delimiter as a Snowflake string literal's body (FIELD_DELIMITER = '...').
DELIMITER_LITERALS = {",": ",", ";": ";", "\t": "\\t", "|": "|"}


def open_bytes(path: str) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzipped."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")  # noqa: SIM115


def is_gzip(path: str) -> bool:
    """Whether PATH is gzip-compressed (by its name, as the warehouses decide)."""
    return Path(path).suffix.lower() == ".gz"


def header_line(head: bytes, encoding: str) -> str:
    """The header line of a file starting with HEAD."""
    text = head.decode(encoding, errors="replace").lstrip("\ufeff")
    return text.splitlines()[0] if text.strip() else ""


def sniff_delimiter(path: str) -> str:
    """The delimiter of a CSV file, judged from its header line (comma when unsure)."""
    with open_bytes(path) as fh:
        return delimiter_of(header_line(fh.read(64 * 1024), "utf-8"))


def delimiter_of(header: str) -> str:
    """The delimiter a header line uses most (comma when it has none)."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def header_fields(head: bytes) -> tuple[list[str], str]:
    """(column names, delimiter) of a UTF-8 CSV file that starts with HEAD."""
    line = header_line(head, "utf-8")
    delimiter = delimiter_of(line)
    return next(csv.reader([line], delimiter=delimiter), []), delimiter


def ragged_line(path: str, delimiter: str) -> str | None:
    """The first row whose field count differs from the header's, as one line; None if none."""
    with io.TextIOWrapper(open_bytes(path), "utf-8-sig", "replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if not header:
            return f"{path}: the file is empty"
        for row in reader:
            if row and len(row) != len(header):
                return (
                    f"{path}: line {reader.line_num} has {len(row)} fields, "
                    f"the header has {len(header)}"
                )
    return None
