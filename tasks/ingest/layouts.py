"""Layouts: find how a file writes its dates and amounts when plain parsing fails.

Only on the failure path: a file that parses as it is never pays for these queries.
A layout is used only when it reads the failing value and no other candidate reads more
of the column; when two read equally well (01/02/1997), the error asks which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import product

from tasks.ingest.parsing import AMOUNT_LAYOUTS, layout_number, source_text, text_timestamp
from tasks.warehouse import Warehouse

DATES = (
    "MM/DD/YYYY", "DD/MM/YYYY", "YYYY/MM/DD", "DD.MM.YYYY", "YYYY.MM.DD", "MM-DD-YYYY",
    "DD-MM-YYYY", "MM/DD/YY", "DD/MM/YY", "DD.MM.YY", "DD-MON-YYYY", "DD-MON-YY",
    "DD MON YYYY", "MON DD, YYYY", "MON DD YYYY", "YYYY-MM-DD",
)  # fmt: skip
TIMES = ("", " HH24:MI", " HH24:MI:SS", " HH12:MI AM", " HH12:MI:SS AM")
DATE_LAYOUTS = tuple(d + t for d, t in product(DATES, TIMES))


@dataclass(frozen=True)
class Fit:
    """The layouts that best read a column (one: read it so; several: the data cannot tell)."""

    role: str
    layouts: tuple[str, ...]

    def note(self, uri: str) -> str:
        """The warning a load read with the one fitting layout carries."""
        other = " (give --date-format to read it otherwise)" if self.role == "txn_ts" else ""
        return f"{uri}: column {self.role} read as {self.layouts[0]}{other}"


def best_fit(
    wh: Warehouse, staged: str, column: str, role: str, sample: str, layouts: dict[str, Callable]
) -> Fit:
    """The LAYOUTS (name: text -> SQL value) that read SAMPLE and miss the fewest of COLUMN.

    Each layout is the parser's own expression, so what is counted here is what loads.

    Fewest rather than none: a file with one bad value among thousands is then read in its
    layout, and the error names that value's row instead of the first row.
    """
    probe = ", ".join(
        f"{read(':v')} IS NOT NULL AS c{i}" for i, read in enumerate(layouts.values())
    )
    row = wh.fetch_frame(f"SELECT {probe}", {"v": sample.strip()}).iloc[0]
    candidates = [name for i, name in enumerate(layouts) if bool(row[f"C{i}"])]
    if not candidates:
        return Fit(role, ())
    text = source_text(column)
    misses = ", ".join(
        f"COUNT_IF({text} <> '' AND {layouts[name](text)} IS NULL) AS m{i}"
        for i, name in enumerate(candidates)
    )
    counts = wh.fetch_frame(f"SELECT {misses} FROM {staged}").iloc[0]
    missed = {name: int(counts[f"M{i}"]) for i, name in enumerate(candidates)}
    fewest = min(missed.values())
    return Fit(role, tuple(name for name, n in missed.items() if n == fewest))


def date_layouts(wh: Warehouse, staged: str, column: str, sample: str) -> Fit:
    """The date layouts that best read COLUMN, among those that read SAMPLE."""
    layouts = {fmt: partial(text_timestamp, date_format=fmt) for fmt in DATE_LAYOUTS}
    return best_fit(wh, staged, column, "txn_ts", sample, layouts)


def amount_layouts(wh: Warehouse, staged: str, column: str, sample: str) -> Fit:
    """The amount layouts that best read COLUMN, among those that read SAMPLE.

    When both read every value (all of them whole: "1,234" or "$12"), digit grouping wins:
    money is seldom written with three decimals.
    """
    layouts = {name: partial(layout_number, layout=name) for name in AMOUNT_LAYOUTS}
    fit = best_fit(wh, staged, column, "amount", sample, layouts)
    return Fit("amount", fit.layouts[:1])
