"""Where source files come from: list, copy and hash local or S3 files behind one interface."""

from __future__ import annotations

import glob
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from tasks.ingest.errors import IngestError

# Delimited text may be gzipped (name.csv.gz); the warehouses decompress it as they read.
SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


# A listing: each file's URI (sorted) and its version when the store knows it without
# reading the file (S3's ETag, size and last-modified), else None.
Listing = dict[str, "str | None"]


class FileStore(Protocol):
    """A place source files live: it lists them and lends a local copy of each."""

    def list_files(self, source: str) -> Listing:
        """The files of SOURCE (a file, folder or prefix, or a glob), sorted, with versions."""

    def local_copy(self, uri: str) -> AbstractContextManager[str]:
        """A context manager yielding a local path with URI's bytes."""


class LocalFiles:
    """Files on this machine: a file, a folder (recursively) or a glob."""

    def list_files(self, source: str) -> Listing:
        """Sorted file paths, hidden files skipped; no versions (a local hash is cheap)."""
        path = Path(source).expanduser()
        if path.is_dir():
            found = (str(p) for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            found = iter([str(path)])
        else:
            found = iter(glob.glob(source, recursive=True))
        return dict.fromkeys(sorted(found))

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """The file itself: nothing to copy."""
        yield uri


class S3Files:
    """Objects under an s3:// prefix, streamed to a temporary file when read."""

    def list_files(self, source: str) -> Listing:
        """Sorted s3:// URIs under the prefix, each with its ETag, size and last-modified."""
        from tasks.s3 import list_s3_objects

        return list_s3_objects(source)

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """Download the object to a temporary folder removed afterwards."""
        from tasks.s3 import download_s3_file

        with tempfile.TemporaryDirectory(prefix="lifeline-") as tmp:
            yield download_s3_file(uri, Path(tmp))


def store_for(uri: str) -> FileStore:
    """The file store that serves URI."""
    return S3Files() if uri.startswith("s3://") else LocalFiles()


def file_kind(path: str) -> str:
    """csv (delimited text) or parquet, from the file name; anything else is rejected."""
    name = Path(path)
    suffix = name.suffix.lower()
    if suffix == ".gz":
        suffix = Path(name.stem).suffix.lower()
        kind = "csv" if SUFFIXES.get(suffix) == "csv" else None
    else:
        kind = SUFFIXES.get(suffix)
    if kind is None:
        raise IngestError(
            f"{path}: not a CSV or Parquet file "
            "(expected .csv, .tsv or .txt, optionally .gz, or .parquet)"
        )
    return kind


def expand_source(source: str) -> Listing:
    """A file, a folder (recursively) or a glob, local or s3://: its sorted files, versioned."""
    files = store_for(source).list_files(source)
    if not files:
        raise IngestError(f"{source}: no files found")
    return files


def split_portfolio(source: str) -> tuple[Listing, Listing]:
    """(customer files, transaction files): customers/ and transactions/ in SOURCE, or a log."""
    if source.startswith("s3://"):
        return split_s3_portfolio(source)
    root = Path(source)
    if (root / "transactions").is_dir():
        customers = expand_source(str(root / "customers")) if (root / "customers").is_dir() else {}
        return customers, expand_source(str(root / "transactions"))
    return {}, expand_source(source)


def split_s3_portfolio(source: str) -> tuple[Listing, Listing]:
    """An S3 prefix listed once: customers/ and transactions/ under it when it has them."""
    listing = expand_source(source)
    base = source.rstrip("/") + "/"

    def under(folder: str) -> Listing:
        return {uri: v for uri, v in listing.items() if uri.startswith(base + folder)}

    transactions = under("transactions/")
    return (under("customers/"), transactions) if transactions else ({}, listing)


def content_hash(path: str) -> str:
    """SHA-256 of a file's bytes, streamed: the file's identity in RAW.LOAD_MANIFEST."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def local_copy(uri: str) -> Iterator[str]:
    """Yield a local path for URI from the store that serves it."""
    with store_for(uri).local_copy(uri) as path:
        yield path
