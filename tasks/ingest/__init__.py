"""Ingest by level: sources (list, copy, hash), parsing (SQL builders), loading (validate, publish).

The package re-exports what callers use, so `from tasks.ingest import ...` stays stable.
"""

from tasks.ingest.errors import IngestError
from tasks.ingest.loading import (
    IngestReport,
    LoadRejectedError,
    ingest_customer_file,
    ingest_source,
    ingest_transaction_file,
    publish_transactions,
)
from tasks.ingest.parsing import REQUIRED_ROLES, TXN_ROLES, parse_mapping, parsed_select
from tasks.ingest.sources import content_hash, expand_source, file_kind, split_portfolio

__all__ = [
    "REQUIRED_ROLES",
    "TXN_ROLES",
    "IngestError",
    "LoadRejectedError",
    "IngestReport",
    "content_hash",
    "expand_source",
    "file_kind",
    "ingest_customer_file",
    "ingest_source",
    "ingest_transaction_file",
    "parse_mapping",
    "parsed_select",
    "publish_transactions",
    "split_portfolio",
]
