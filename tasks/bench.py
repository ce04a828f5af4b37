"""`lifeline bench`: time the pipeline's own steps on a fresh portfolio, beside reference passes."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from tasks import steps
from tasks.params import DEFAULTS, PipelineParams
from tasks.settings import load_settings

REFERENCE_SQL = """
SELECT customer_id, COUNT(*) AS n, SUM(amount) AS total, MAX(txn_ts) AS last_ts,
       SUM(CASE WHEN txn_ts >= TIMESTAMP '{cut}' - INTERVAL 90 DAY THEN amount ELSE 0 END)
           AS spend_90
FROM raw.transactions GROUP BY customer_id
"""


def peak_rss_bytes() -> int:
    """Peak resident set size of this process plus its waited-for children (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int((own + children) * 1024)


def reference_pandas(folder: Path, cut: dt.date) -> float:
    """The same aggregation in pandas over the same Parquet files; returns seconds."""
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_parquet(folder / "transactions", columns=["CUSTOMER_ID", "TXN_TS", "AMOUNT"])
    recent = frame["AMOUNT"].where(frame["TXN_TS"] >= pd.Timestamp(cut) - pd.Timedelta(days=90), 0)
    frame = frame.assign(RECENT=recent)
    frame.groupby("CUSTOMER_ID").agg(
        n=("AMOUNT", "size"),
        total=("AMOUNT", "sum"),
        last_ts=("TXN_TS", "max"),
        spend_90=("RECENT", "sum"),
    )
    return round(time.perf_counter() - start, 3)


# Rows each step worked on, from the run's counts.
STEP_ROWS = {
    "generate": "raw_transactions",
    "ingest": "rows_ingested",
    "features": "feature_rows",
    "quality_features": "feature_rows",
    "publish_features": "feature_rows",
    "train": "training_rows",
    "register": "holdout_rows",
    "score": "rows_scored",
    "quality_scores": "rows_scored",
    "publish": "rows_scored",
}


def run_bench(
    customers: int,
    transactions: int,
    snapshots: int = 12,
    home: Path | None = None,
    pandas_limit: int = 20_000_000,
    seed: int = DEFAULTS.seed,
    horizon_days: int = DEFAULTS.horizon_days,
) -> dict[str, Any]:
    """Run the pipeline's own steps (ingest to publish) without Prefect; return JSON."""
    home = Path(home or tempfile.mkdtemp(prefix="lifeline-bench-"))
    os.environ["LIFELINE_HOME"] = str(home)
    settings = load_settings(home=home, target="local")
    params = PipelineParams(
        customers=customers,
        transactions=transactions,
        seed=seed,
        horizon_days=horizon_days,
        train_snapshots=max(snapshots - 2, 1),
    )
    total_start = time.perf_counter()
    with steps.run_session("bench", params, "bench", settings, steps.PLAIN) as run:
        steps.ingest_step(run, params)
        as_of = steps.resolve_as_of(run, params.as_of)
        steps.features_step(run, params, as_of)
        training = steps.train_step(run, params, as_of)
        steps.score_step(run, as_of)
        total_seconds = round(time.perf_counter() - total_start, 3)
        ref_start = time.perf_counter()
        run.wh.fetch_frame(REFERENCE_SQL.format(cut=as_of.isoformat()))
        aggregate_seconds = round(time.perf_counter() - ref_start, 3)
    log = run.log
    folder = steps.synthetic_landing(settings, params)
    rows = log.counts["raw_transactions"]
    pandas_seconds = reference_pandas(folder, as_of) if rows <= pandas_limit else None
    step_report = {
        name: {"seconds": seconds, "rows": int(log.counts.get(STEP_ROWS.get(name, ""), 0))}
        for name, seconds in log.seconds.items()
    }
    return {
        "customers": customers,
        "transactions": rows,
        "snapshots": params.train_snapshots + 2,
        "steps": step_report,
        "reference": {
            "aggregate_seconds": aggregate_seconds,
            "pandas_aggregate_seconds": pandas_seconds,
        },
        "total_seconds": total_seconds,
        "peak_rss_bytes": peak_rss_bytes(),
        "scored_customers_per_second": round(
            log.counts["rows_scored"] / max(log.seconds["score"] + log.seconds["publish"], 1e-9)
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_bytes": total_memory(),
            "platform": platform.platform(),
        },
        "versions": versions_of("duckdb", "prefect", "scikit-learn", "mlflow", "sqlglot"),
        "metrics": {
            k: round(v, 4)
            for k, v in training["metrics"].items()
            if k in ("churn_roc_auc", "churn_baseline_roc_auc", "clv_rmse", "clv_baseline_rmse")
        },
        "served": training["served"],
        "home": str(home),
        "duckdb_threads": duckdb.connect()
        .execute("SELECT current_setting('threads')")
        .fetchone()[0],
    }


def total_memory() -> int:
    """Physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def versions_of(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions."""
    from importlib.metadata import version

    return {n: version(n) for n in names}
