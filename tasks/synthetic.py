"""Synthetic card portfolio: customers with latent churn, and their transactions as Parquet.

Churn is a hidden process (a per-customer hazard and a pre-churn fade), never an output
column, so a model on honest features cannot be perfect.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SEGMENTS = (
    "High-Value Travelers",
    "Stable Mid-Spenders",
    "Budget-Conscious",
    "New & Growing",
    "Declining",
)
SEGMENT_SHARES = np.array([0.125, 0.45, 0.225, 0.125, 0.075])
# Median monthly spend ($), monthly spend trend, monthly churn hazard, decline rate, P(premium).
SEGMENT_SPEND = np.array([6500.0, 2400.0, 900.0, 1300.0, 2000.0])
SEGMENT_TREND = np.array([0.0, 0.0, 0.0, 0.04, -0.06])
SEGMENT_HAZARD = np.array([0.010, 0.012, 0.022, 0.030, 0.080])
SEGMENT_DECLINE = np.array([0.012, 0.015, 0.022, 0.018, 0.06])
SEGMENT_PREMIUM = np.array([0.85, 0.30, 0.05, 0.20, 0.20])
SEGMENT_AGE = np.array([[30, 62], [25, 68], [20, 75], [19, 34], [25, 70]])
# Share of transactions per category group: travel, necessities, discretionary, other.
SEGMENT_GROUP_MIX = np.array(
    [
        [0.13, 0.36, 0.43, 0.08],
        [0.03, 0.47, 0.42, 0.08],
        [0.01, 0.74, 0.20, 0.05],
        [0.03, 0.45, 0.45, 0.07],
        [0.02, 0.52, 0.38, 0.08],
    ]
)
CATEGORIES = {  # name: (group, relative ticket size)
    "Airlines": ("travel", 8.0),
    "Hotels": ("travel", 6.0),
    "Car Rental": ("travel", 4.0),
    "Travel Agencies": ("travel", 5.0),
    "Grocery": ("necessities", 1.0),
    "Gas": ("necessities", 0.8),
    "Utilities": ("necessities", 2.5),
    "Healthcare": ("necessities", 2.0),
    "Pharmacy": ("necessities", 0.6),
    "Insurance": ("necessities", 3.0),
    "Telecom": ("necessities", 1.5),
    "Restaurants": ("discretionary", 0.9),
    "Entertainment": ("discretionary", 1.0),
    "Streaming": ("discretionary", 0.3),
    "Apparel": ("discretionary", 1.5),
    "Electronics": ("discretionary", 3.0),
    "Home Improvement": ("discretionary", 2.0),
    "Sporting Goods": ("discretionary", 1.5),
    "Education": ("other", 4.0),
    "Charity": ("other", 1.0),
    "Services": ("other", 1.2),
}
GROUPS = ("travel", "necessities", "discretionary", "other")
CHANNELS = np.array(["Online", "In-Store", "Mobile"])
CHANNEL_P = np.array([0.4, 0.4, 0.2])
STATES = np.array(
    [
        "CA",
        "TX",
        "FL",
        "NY",
        "PA",
        "IL",
        "OH",
        "GA",
        "NC",
        "MI",
        "NJ",
        "VA",
        "WA",
        "AZ",
        "MA",
        "TN",
        "IN",
        "MO",
        "MD",
        "CO",
    ]
)
EMPLOYMENT = np.array(["Employed", "Self-Employed", "Retired", "Student", "Unemployed"])
REFUND_RATE = 0.008
TICKET_SIGMA = 0.6
DEFAULT_END = dt.date(2025, 12, 31)
CHUNK_ROWS = 2_000_000  # transactions per part file (about)
# Part p's transaction ids start at p * ID_STRIDE: known before any part is drawn, so the
# parts are drawn in parallel and the ids stay the same whatever the number of workers.
ID_STRIDE = 10**8


@dataclass(frozen=True)
class GenerateResult:
    """What the generator wrote."""

    customers: int
    transactions: int
    customer_files: list[Path]
    transaction_files: list[Path]
    start: dt.date
    end: dt.date


def generate_portfolio(
    out_dir: Path,
    customers: int,
    transactions: int,
    seed: int = 7,
    months: int = 18,
    end: dt.date = DEFAULT_END,
    workers: int | None = None,
) -> GenerateResult:
    """Write customers.parquet and transactions/part-*.parquet under OUT_DIR, chunk by chunk.

    WORKERS processes draw the parts (default: one per CPU once there are two parts' worth
    of transactions); the files are the same whatever the number.
    """
    if customers < 1 or transactions < 1 or months < 2:
        raise ValueError("customers and transactions must be >= 1 and months >= 2")
    out_dir = Path(out_dir)
    (out_dir / "customers").mkdir(parents=True, exist_ok=True)
    (out_dir / "transactions").mkdir(parents=True, exist_ok=True)
    n_days = int(round(months * 30.44))
    start = end - dt.timedelta(days=n_days - 1)
    cust = draw_customers(customers, transactions, start, n_days, seed)
    customer_file = out_dir / "customers" / "customers.parquet"
    pq.write_table(customer_table(cust), customer_file)

    per_customer = transactions / customers
    chunk = max(1, int(CHUNK_ROWS // max(per_customer, 1.0)))
    parts = [
        Part(
            out_dir / "transactions" / f"part-{part:05d}.parquet",
            part,
            lo,
            min(lo + chunk, customers),
        )
        for part, lo in enumerate(range(0, customers, chunk))
    ]
    common = (cust, start, n_days, seed)
    if workers is None:
        workers = available_cpus() if transactions >= 2 * CHUNK_ROWS else 1
    workers = min(workers, len(parts))
    if workers > 1:
        # Spawned, not forked: the caller may hold DuckDB and Prefect threads.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, context, set_common, common) as pool:
            written = sum(pool.map(write_part, parts))
    else:
        set_common(*common)
        written = sum(map(write_part, parts))
    return GenerateResult(customers, written, [customer_file], [p.path for p in parts], start, end)


@dataclass(frozen=True)
class Part:
    """One transactions file: the customers lo..hi, its ids from part * ID_STRIDE."""

    path: Path
    part: int
    lo: int
    hi: int


COMMON: tuple = ()  # (customers, start, n_days, seed), set once per process


def set_common(cust: dict, start: dt.date, n_days: int, seed: int) -> None:
    """Give this process the portfolio every part is drawn from (a pool's initializer)."""
    global COMMON
    COMMON = (cust, start, n_days, seed)


def write_part(part: Part) -> int:
    """Draw and write one part file; returns its rows."""
    cust, start, n_days, seed = COMMON
    first_id = part.part * ID_STRIDE
    table = transaction_chunk(cust, part.lo, part.hi, start, n_days, seed, part.part, first_id)
    if table.num_rows >= ID_STRIDE:
        raise ValueError(f"part {part.part} has {table.num_rows:,} rows, over {ID_STRIDE:,}")
    pq.write_table(table, part.path, compression="zstd")
    return table.num_rows


def available_cpus() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ensure_portfolio(out_dir: Path, customers: int, transactions: int, seed: int) -> Path:
    """Write a synthetic portfolio once; a complete one already on disk is reused."""
    marker = out_dir / "_COMPLETE"
    if not marker.exists():
        generate_portfolio(out_dir, customers, transactions, seed)
        marker.write_text("ok\n")
    return out_dir


def draw_customers(n: int, transactions: int, start: dt.date, n_days: int, seed: int) -> dict:
    """Draw customer attributes, segments, latent hazards and transaction rates."""
    rng = np.random.default_rng([seed, 0])
    seg = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARES)
    age_lo, age_hi = SEGMENT_AGE[seg, 0], SEGMENT_AGE[seg, 1]
    age = (age_lo + rng.random(n) * (age_hi - age_lo)).astype(np.int32)
    premium = rng.random(n) < SEGMENT_PREMIUM[seg]
    # Open day relative to the window start: established customers opened 1-15 years before;
    # New & Growing opened inside the window (but at least 60 days before its end).
    open_day = -rng.integers(365, 15 * 365, size=n)
    new = seg == 3
    open_day[new] = rng.integers(-90, max(n_days - 60, -89), size=int(new.sum()))
    active_from = np.maximum(open_day, 0)
    # Latent disengagement drives both the hazard and observable signals (declines, fading).
    disengaged = rng.normal(0.0, 1.0, size=n)
    hazard = SEGMENT_HAZARD[seg] * np.exp(0.6 * disengaged) / 30.44  # per day
    churn_day = active_from + rng.exponential(1.0 / hazard)
    fade_days = rng.uniform(45, 120, size=n)
    spend = SEGMENT_SPEND[seg] * rng.lognormal(-0.08, 0.4, size=n)
    credit_limit = np.round(np.where(premium, 3.0, 2.0) * spend * rng.uniform(2, 5, n), -2)
    live_days = np.clip(np.minimum(churn_day, n_days) - active_from, 0, None)
    activity = rng.lognormal(0.0, 0.5, size=n)
    rate = activity * transactions / max(float((activity * live_days).sum()), 1.0)  # per day
    # A few loyal customers go quiet for a while and come back: honest false positives.
    dormant_start = np.where(rng.random(n) < 0.15, rng.integers(0, n_days, size=n), -1)
    return {
        "n": n,
        "segment": seg,
        "age": age,
        "premium": premium,
        "open_day": open_day,
        "active_from": active_from,
        "churn_day": churn_day,
        "fade_days": fade_days,
        "spend": spend,
        "credit_limit": credit_limit,
        "rate": rate,
        "decline": np.clip(SEGMENT_DECLINE[seg] * np.exp(0.3 * disengaged), 0, 0.5),
        "dormant_start": dormant_start,
        "dormant_len": rng.integers(30, 75, size=n),
        "state": STATES[rng.integers(0, len(STATES), size=n)],
        "employment": EMPLOYMENT[rng.choice(5, size=n, p=[0.68, 0.12, 0.1, 0.06, 0.04])],
        "start": start,
    }


def customer_table(cust: dict) -> pa.Table:
    """The customers file; the segment is a marketing label, churn is not a column."""
    n, start = cust["n"], np.datetime64(cust["start"], "D")
    return pa.table(
        {
            "CUSTOMER_ID": format_ids("CUST", np.arange(1, n + 1), 8),
            "AGE": cust["age"],
            "STATE": cust["state"],
            "EMPLOYMENT_STATUS": cust["employment"],
            "CARD_TYPE": np.where(cust["premium"], "Premium", "Standard"),
            "CREDIT_LIMIT": cust["credit_limit"],
            "ACCOUNT_OPEN_DATE": start + cust["open_day"].astype("timedelta64[D]"),
            "SEGMENT": np.array(SEGMENTS)[cust["segment"]],
        }
    )


def daily_intensity(cust: dict, lo: int, hi: int, n_days: int) -> np.ndarray:
    """Expected transactions per (customer, day) for customers lo..hi."""
    days = np.arange(n_days)[None, :]
    sl = slice(lo, hi)
    seg = cust["segment"][sl][:, None]
    alive = (days >= cust["active_from"][sl][:, None]) & (days < cust["churn_day"][sl][:, None])
    to_churn = cust["churn_day"][sl][:, None] - days
    fade = np.clip(to_churn / cust["fade_days"][sl][:, None], 0.15, 1.0)
    months_in = (days - cust["active_from"][sl][:, None]).clip(0) / 30.44
    trend = np.exp(SEGMENT_TREND[seg] * months_in)
    ds, dl = cust["dormant_start"][sl][:, None], cust["dormant_len"][sl][:, None]
    dormant = np.where((ds >= 0) & (days >= ds) & (days < ds + dl), 0.15, 1.0)
    day_of_year = (np.datetime64(cust["start"], "D") + np.arange(n_days)).astype("datetime64[D]")
    month = (day_of_year.astype("datetime64[M]").astype(int) % 12) + 1
    season = np.array([0.88, 0.9, 0.97, 1.0, 1.0, 1.05, 1.08, 1.05, 0.98, 1.0, 1.1, 1.3])[month - 1]
    weekday = (day_of_year.astype(int) + 3) % 7  # 0 = Monday
    season = season * np.where(weekday >= 5, 1.12, 0.95)
    return cust["rate"][sl][:, None] * alive * fade * trend * dormant * season[None, :]


def transaction_chunk(
    cust: dict,
    lo: int,
    hi: int,
    start: dt.date,
    n_days: int,
    seed: int,
    part: int,
    first_id: int,
) -> pa.Table:
    """Draw the transactions of customers lo..hi as one Arrow table, ordered by customer/day."""
    rng = np.random.default_rng([seed, 1, part])
    counts = rng.poisson(daily_intensity(cust, lo, hi, n_days))
    rows, days = np.nonzero(counts)
    reps = counts[rows, days]
    who = np.repeat(rows + lo, reps)
    day = np.repeat(days, reps)
    n = len(who)
    seg = cust["segment"][who]
    cat_names = np.array(list(CATEGORIES))
    cat_group = np.array([GROUPS.index(g) for g, _ in CATEGORIES.values()])
    cat_mult = np.array([m for _, m in CATEGORIES.values()])
    group_size = np.bincount(cat_group, minlength=4)
    # P(category | segment) = P(group | segment) / categories in the group.
    p_cat = SEGMENT_GROUP_MIX[:, cat_group] / group_size[cat_group]
    cum = np.cumsum(p_cat, axis=1)
    u = rng.random(n)
    cat = np.empty(n, dtype=np.int64)
    for s in range(len(SEGMENTS)):  # a binary search per segment, not an n x 21 matrix
        mask = seg == s
        cat[mask] = np.searchsorted(cum[s], u[mask], side="right")
    cat = cat.clip(0, len(cat_names) - 1)
    mean_mult = (p_cat * cat_mult).sum(axis=1)
    base_ticket = cust["spend"][who] / (cust["rate"][who] * 30.44 * mean_mult[seg])
    amount = base_ticket * cat_mult[cat] * rng.lognormal(-(TICKET_SIGMA**2) / 2, TICKET_SIGMA, n)
    refund = rng.random(n) < REFUND_RATE
    amount = np.round(np.where(refund, -amount * rng.uniform(0.2, 1.0, n), amount), 2)
    amount = np.where(amount == 0, 0.01, amount)
    declined = rng.random(n) < cust["decline"][who]
    seconds = rng.integers(6 * 3600, 23 * 3600, size=n)
    ts = np.datetime64(start, "s") + day.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    order = slice(None)  # np.nonzero already yields (customer, day) order
    ids = np.arange(first_id + 1, first_id + n + 1)
    channel = rng.choice(3, size=n, p=CHANNEL_P)
    return pa.table(
        {
            "TRANSACTION_ID": format_ids("TXN", ids, 12),
            "CUSTOMER_ID": repeated_ids("CUST", who[order] + 1, 8),
            "TXN_TS": pa.array(ts[order], type=pa.timestamp("us")),
            "AMOUNT": amount[order],
            # Dictionary-encoded straight from codes: no per-row Python strings.
            "CATEGORY": coded(cat[order], cat_names),
            "CHANNEL": coded(channel, CHANNELS),
            "STATUS": coded(declined[order], np.array(["approved", "declined"])),
        }
    )


def coded(codes: np.ndarray, names: np.ndarray) -> pa.DictionaryArray:
    """A dictionary-encoded string column from integer codes."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(names))


def format_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """PREFIX + zero-padded numbers, formatted in Arrow (fast for tens of millions).

    10**WIDTH + n prints as "1" and n's WIDTH digits; one kernel swaps the "1" for PREFIX,
    half the time of padding and joining.
    """
    if len(numbers) and int(numbers.max()) >= 10**width:
        raise ValueError(f"{prefix} ids need more than {width} digits")
    text = pc.cast(pa.array(numbers.astype(np.int64) + 10**width), pa.string())
    return pc.binary_replace_slice(text, 0, 1, prefix)


def repeated_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """format_ids for a few numbers repeated many times: each is formatted once, then taken."""
    lo = int(numbers.min()) if len(numbers) else 0
    names = format_ids(prefix, np.arange(lo, int(numbers.max(initial=lo)) + 1), width)
    return names.take(pa.array(numbers - lo))
