"""The one validator for identifiers that come from parameters or files."""

from __future__ import annotations

import re

_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")


class UnsafeIdentifierError(ValueError):
    """An identifier that could change the meaning of a SQL statement."""


def validate_identifier(name: str, max_parts: int = 3) -> str:
    """Return NAME upper-cased if every dot-separated part is a plain identifier, else raise."""
    if not isinstance(name, str):
        raise UnsafeIdentifierError(f"identifier must be a string, got {type(name).__name__}")
    parts = name.split(".")
    if not 1 <= len(parts) <= max_parts or not all(_PART.fullmatch(p) for p in parts):
        raise UnsafeIdentifierError(
            f"unsafe identifier {name[:80]!r}: each part must match {_PART.pattern}"
        )
    return ".".join(p.upper() for p in parts)


def quote_identifier(name: str, max_parts: int = 3) -> str:
    """Validate NAME and return it double-quoted part by part (upper case)."""
    return ".".join(f'"{p}"' for p in validate_identifier(name, max_parts).split("."))


def validate_column_name(name: str) -> str:
    """Return NAME, a file's column name, if it is safe inside double quotes, else raise.

    Exports name columns "Customer ID" or "Sales (€)": any printable text is safe quoted,
    except a double quote, which would end the quoted name.
    """
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        raise UnsafeIdentifierError(f"unsafe identifier {str(name)[:80]!r}: 1 to 255 characters")
    if '"' in name or not name.isprintable():
        raise UnsafeIdentifierError(
            f"unsafe identifier {name[:80]!r}: a column name may not hold a double quote or "
            "control characters"
        )
    return name
