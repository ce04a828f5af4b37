"""Delimited text as people export it: encodings, line endings and layouts made readable.

DuckDB and Snowflake read UTF-8 with one kind of line ending. Exports also come as UTF-16
(Excel's "Unicode text"), Windows-1252, with a header ending lines differently from the
rows, or as columns aligned with spaces. Such a file is copied once to clean UTF-8 (the
load's identity stays the original bytes' hash); a clean file is read as it is.
"""

from __future__ import annotations

import codecs
import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tasks.ingest.errors import IngestError
from tasks.warehouse.delimited import DELIMITERS, header_line, is_gzip, open_bytes

CHUNK = 1 << 20
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# Undefined in Windows-1252 (0x81, 0x8D, 0x8F, 0x90, 0x9D): kept as their Latin-1 characters.
def latin1_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode the bytes Windows-1252 leaves undefined as Latin-1."""
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("lifeline-latin1", latin1_fallback)


@dataclass(frozen=True)
class TextShape:
    """How a delimited text file is written: its codec, line endings and column layout."""

    encoding: str = "utf-8"
    mixed_endings: bool = False
    aligned: bool = False  # columns separated by runs of spaces, no delimiter character

    @property
    def needs_copy(self) -> bool:
        """Whether the warehouse needs a clean UTF-8 copy to read it."""
        return self.encoding not in ("utf-8", "utf-8-sig") or self.mixed_endings or self.aligned

    def notes(self, uri: str) -> list[str]:
        """Warnings worth a line in the run's log."""
        if self.encoding == "cp1252":
            return [f"{uri}: not UTF-8, read as Windows-1252 (Latin-1)"]
        return []


def bom_encoding(head: bytes) -> str | None:
    """The codec a byte-order mark names, or a UTF-16 guess from NUL bytes, else None."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec
    sample = head[:4096]
    if len(sample) >= 4 and b"\x00" in sample:
        # ASCII text in UTF-16 has a NUL in every other byte.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le"
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be"
    return None


def inspect_text(path: str, uri: str) -> TextShape:
    """One streamed pass: the file's codec, whether its line endings mix, its column layout."""
    with open_bytes(path) as fh:
        head = fh.read(CHUNK)
        if not head.strip().lstrip(codecs.BOM_UTF8):
            raise IngestError(f"{uri}: the file is empty")
        encoding = bom_encoding(head)
        if encoding in ("utf-32", "utf-16", "utf-16-le", "utf-16-be"):
            return TextShape(encoding, aligned=is_aligned(header_line(head, encoding)))
        endings = LineEndings()
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8 = True
        chunk = head
        while chunk:
            endings.add(chunk)
            # ASCII chunks are valid UTF-8 and carry no partial character over.
            if utf8 and not chunk.isascii():
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            chunk = fh.read(CHUNK)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        utf8 = False
    codec = (encoding or "utf-8") if utf8 else "cp1252"
    return TextShape(codec, endings.mixed, is_aligned(header_line(head, codec)))


class LineEndings:
    """Counts of CRLF, lone LF and lone CR line endings across streamed chunks."""

    def __init__(self) -> None:
        self.crlf = self.lf = self.cr = 0
        self.ended_cr = False

    def add(self, chunk: bytes) -> None:
        """Count CHUNK's endings, joining a CR and LF split between chunks."""
        self.crlf += chunk.count(b"\r\n") + (self.ended_cr and chunk.startswith(b"\n"))
        self.lf += chunk.count(b"\n")
        self.cr += chunk.count(b"\r")
        self.ended_cr = chunk.endswith(b"\r")

    @property
    def mixed(self) -> bool:
        """More than one kind of line ending."""
        kinds = (self.crlf, self.lf - self.crlf, self.cr - self.crlf)
        return sum(1 for n in kinds if n) > 1


def is_aligned(header: str) -> bool:
    """A header with no delimiter character but several space-separated names."""
    return not any(d in header for d in DELIMITERS) and len(header.split()) >= 2


@contextmanager
def readable_text(path: str, uri: str) -> Iterator[tuple[str, list[str]]]:
    """(a path the warehouse can read, warnings): PATH itself, or a clean UTF-8 copy of it."""
    shape = inspect_text(path, uri)
    if not shape.needs_copy:
        yield path, []
        return
    with tempfile.TemporaryDirectory(prefix="lifeline-text-") as tmp:
        copy = Path(tmp) / (Path(path).stem if is_gzip(path) else Path(path).name)
        write_clean_copy(path, uri, shape, copy)
        yield str(copy), shape.notes(uri)


def write_clean_copy(path: str, uri: str, shape: TextShape, out: Path) -> None:
    """Copy PATH as UTF-8 with LF endings; aligned columns become tab-separated."""
    errors = "lifeline-latin1" if shape.encoding == "cp1252" else "strict"
    with (
        open_bytes(path) as raw,
        # Universal newlines: CRLF and lone CR become LF, even across block edges.
        io.TextIOWrapper(raw, shape.encoding, errors, newline=None) as text,
        open(out, "w", encoding="utf-8", newline="\n") as dst,
    ):
        try:
            if shape.aligned:
                write_aligned(text, uri, dst)
            else:
                while block := text.read(CHUNK):
                    dst.write(block)
        except UnicodeDecodeError as exc:
            raise IngestError(f"{uri}: not readable as {shape.encoding}: {exc.reason}") from None


def write_aligned(text: IO[str], uri: str, dst: IO[str]) -> None:
    """Columns aligned with spaces as tab-separated rows; a short or long row fails the file."""
    width = 0
    for number, line in enumerate(text, start=1):
        fields = line.split()
        if not fields:
            continue
        if not width:
            width = len(fields)
        elif len(fields) != width:
            raise IngestError(
                f"{uri}: line {number} has {len(fields)} fields, the header has {width}"
            )
        dst.write("\t".join(fields) + "\n")
