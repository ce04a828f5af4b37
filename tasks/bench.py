"""`lifeline bench`: time every stage on a fresh synthetic portfolio, beside reference queries."""

from __future__ import annotations

import datetime as dt
import os
import platform
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from tasks import features, ingest, quality, registry, scoring
from tasks.modeling import ModelConfig
from tasks.settings import load_settings
from tasks.synthetic import generate_portfolio
from tasks.trainers import get_trainer
from tasks.warehouse.duckdb import DuckDBWarehouse

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


def timed(stages: dict, name: str, fn: Callable[[], Any], rows: Callable[[Any], int]) -> Any:
    """Run FN, record its seconds and the rows it processed under NAME."""
    start = time.perf_counter()
    out = fn()
    stages[name] = {"seconds": round(time.perf_counter() - start, 3), "rows": int(rows(out))}
    return out


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


def run_bench(
    customers: int,
    transactions: int,
    snapshots: int = 12,
    home: Path | None = None,
    pandas_limit: int = 20_000_000,
    seed: int = 7,
) -> dict[str, Any]:
    """Run generate -> ingest -> gates -> features -> train -> score -> publish; return JSON."""
    home = Path(home or tempfile.mkdtemp(prefix="lifeline-bench-"))
    os.environ["LIFELINE_HOME"] = str(home)
    settings = load_settings(home=home, target="local")
    total_start, stages = time.perf_counter(), {}
    folder = home / "landing" / "bench"
    gen = timed(
        stages,
        "generate",
        lambda: generate_portfolio(folder, customers, transactions, seed),
        lambda r: r.transactions,
    )
    wh = DuckDBWarehouse(settings.duckdb_path, settings.duckdb_memory_limit)
    wh.bootstrap()
    run_id, horizon = "bench", 90

    def ingest_all() -> int:
        for f in gen.customer_files:
            ingest.ingest_customer_file(wh, str(f), run_id)
        return sum(
            ingest.ingest_transaction_file(wh, str(f), {}, run_id)[0] for f in gen.transaction_files
        )

    timed(stages, "ingest", ingest_all, lambda n: n)
    timed(
        stages,
        "quality_raw",
        lambda: quality.evaluate_suite(
            wh, "raw_transactions", "RAW.TRANSACTIONS", {"max_ts": "2100-01-01 00:00:00"}
        ),
        lambda r: wh.row_count("RAW.TRANSACTIONS"),
    )
    as_of = gen.end + dt.timedelta(days=1)
    plan = features.plan_snapshots(as_of, horizon, max(snapshots - 2, 1))
    features.record_snapshots(wh, run_id, plan)

    def build() -> tuple[str, str]:
        return (
            features.stage_features(wh, run_id, as_of, horizon),
            features.stage_labels(wh, run_id, as_of, horizon, 0.3),
        )

    f_stage, l_stage = timed(stages, "features", build, lambda s: wh.row_count(s[0]))
    timed(
        stages,
        "quality_features",
        lambda: [
            quality.evaluate_suite(wh, "customer_features", f_stage, {"active_days": horizon}),
            quality.evaluate_suite(wh, "training_labels", l_stage),
        ],
        lambda r: wh.row_count(f_stage),
    )
    features.publish_features(wh, f_stage, l_stage)

    def train() -> Any:
        training_set = features.fetch_training_set(wh, run_id, horizon)
        result = get_trainer("local").train(training_set, ModelConfig(), horizon)
        return result, training_set[training_set["ROLE"] == "holdout"]

    result, holdout = timed(stages, "train", train, lambda r: sum(r[0].rows.values()))
    registry.configure_mlflow(settings)
    versions = registry.log_training_run(result, {"as_of": as_of}, holdout)
    staging, _ = timed(
        stages,
        "score",
        lambda: scoring.stage_scores(
            wh,
            as_of,
            (result.churn_model, result.clv_model),
            (versions[registry.CHURN_MODEL], versions[registry.CLV_MODEL]),
            run_id,
            result.features,
        ),
        lambda s: s[1],
    )
    timed(
        stages,
        "publish",
        lambda: scoring.publish_scores(wh, staging),
        lambda _: wh.row_count(scoring.SCORES_TABLE),
    )
    wh.drop_table(staging)

    ref_start = time.perf_counter()
    wh.fetch_frame(REFERENCE_SQL.format(cut=as_of.isoformat()))
    aggregate_seconds = round(time.perf_counter() - ref_start, 3)
    pandas_seconds = reference_pandas(folder, as_of) if gen.transactions <= pandas_limit else None
    wh.close()
    return {
        "customers": customers,
        "transactions": gen.transactions,
        "snapshots": len(plan),
        "stages": stages,
        "reference": {
            "aggregate_seconds": aggregate_seconds,
            "pandas_aggregate_seconds": pandas_seconds,
        },
        "total_seconds": round(time.perf_counter() - total_start, 3),
        "peak_rss_bytes": peak_rss_bytes(),
        "scored_customers_per_second": round(
            stages["score"]["rows"]
            / max(stages["score"]["seconds"] + stages["publish"]["seconds"], 1e-9)
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_bytes": total_memory(),
            "platform": platform.platform(),
        },
        "versions": versions_of("duckdb", "prefect", "scikit-learn", "mlflow", "sqlglot"),
        "metrics": {
            k: round(v, 4)
            for k, v in result.metrics.items()
            if k in ("churn_roc_auc", "churn_baseline_roc_auc", "clv_mae", "clv_baseline_mae")
        },
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
