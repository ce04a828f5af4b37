"""`lifeline bench`: time the pipeline's own steps on a fresh portfolio, beside reference passes."""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb
import psutil

from tasks import progress, scoring, steps
from tasks.params import DEFAULTS, PipelineParams
from tasks.settings import LifelineSettings, load_settings

REFERENCE_SQL = """
SELECT customer_id, COUNT(*) AS n, SUM(amount) AS total, MAX(txn_ts) AS last_ts,
       SUM(CASE WHEN txn_ts >= TIMESTAMP '{cut}' - INTERVAL 90 DAY THEN amount ELSE 0 END)
           AS spend_90
FROM raw.transactions GROUP BY customer_id
"""
# Rows each step worked on, from the run's counts.
STEP_ROWS = {
    "generate": "raw_transactions",
    "ingest": "rows_ingested",
    "quality_raw": "rows_ingested",
    "features": "feature_rows",
    "quality_features": "feature_rows",
    "publish_features": "feature_rows",
    "train": "training_rows",
    "register": "holdout_rows",
    "score": "rows_scored",
    "quality_scores": "rows_scored",
    "publish": "rows_scored",
}
# The reference passes' memory window: kept out of the pipeline's peak.
REFERENCES = "references"
# Tier-L targets (issue 19): (name, limit, how the measurement compares).
TARGETS = (
    ("ingest_over_plain_load", 2.0, "<="),
    ("raw_gate_over_aggregate", 2.0, "<="),
    ("features_per_cutoff_over_aggregate", 1.5, "<="),
    ("scored_share_of_customers_with_history", 1.0, ">="),
    ("scored_customers_per_second", 100_000, ">="),
    ("peak_rss_gib", 4.0, "<="),
    ("total_seconds", 90.0, "<="),
)


class RssSampler:
    """Peak resident memory per pipeline step: this process's exact peak, plus its children.

    Linux keeps each process's peak (VmHWM) and lets it be reset, so a step's own peak is
    read at its end and needs no sampling. Child processes (the generator's workers) are
    added by a sampler every 0.25 s; walking /proc for them every 20 ms cost ~4 s of CPU
    per tier-L run. Without a resettable peak, this process is sampled every 20 ms instead.
    """

    def __init__(self, steps: set[str]) -> None:
        self.steps = steps
        self.current = "setup"
        self.peaks: dict[str, int] = {}
        self.stop = threading.Event()
        self.process = psutil.Process()
        self.exact = reset_peak_rss()
        self.interval = 0.25 if self.exact else 0.02

    def rss(self) -> int:
        """Resident bytes now: this process and any children."""
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def listen(self, stage: str, done: int = 0, total: int | None = None) -> None:
        """Progress listener: a step's first report closes the last step's window."""
        if stage in self.steps and stage != self.current:
            self.close_window()
            self.current = stage

    def close_window(self) -> None:
        """Record the current step's exact peak and start the next step's from now."""
        if self.exact:
            self.record(peak_rss())
            reset_peak_rss()

    def sample(self) -> None:
        """Record RSS against the step running now, until stopped."""
        while not self.stop.wait(self.interval):
            self.note()

    def note(self) -> None:
        """One sample."""
        self.record(self.rss())

    def record(self, rss: int) -> None:
        """Keep the larger of RSS and the step's peak so far."""
        self.peaks[self.current] = max(self.peaks.get(self.current, 0), rss)

    @contextmanager
    def running(self) -> Iterator[RssSampler]:
        """Sample in a daemon thread while inside."""
        thread = threading.Thread(target=self.sample, daemon=True)
        thread.start()
        try:
            with progress.listening(self.listen):
                yield self
        finally:
            self.stop.set()
            thread.join()
            self.note()
            self.close_window()


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss() -> int:
    """This process's peak resident bytes since the last reset (Linux VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def reference_load(folder: Path, settings: LifelineSettings) -> float:
    """Seconds for a plain DuckDB load of the portfolio's Parquet files into one table.

    Same memory cap as the warehouse, into a scratch database file on the same disk.
    """
    path = settings.home_dir / "reference-load.duckdb"
    con = duckdb.connect(str(path))
    try:
        if settings.duckdb_memory_limit:
            con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        glob = str(folder / "transactions" / "*.parquet").replace("'", "''")
        start = time.perf_counter()
        con.execute(f"CREATE TABLE transactions AS SELECT * FROM read_parquet('{glob}')")
        con.execute("CHECKPOINT")
        return round(time.perf_counter() - start, 3)
    finally:
        con.close()
        for suffix in ("", ".wal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def reference_aggregate(run: steps.StepRun, cut: dt.date, passes: int = 3) -> float:
    """Best of PASSES runs of one aggregate pass over RAW.TRANSACTIONS (cache warm)."""
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        run.wh.fetch_frame(REFERENCE_SQL.format(cut=cut.isoformat()))
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


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


def with_history(run: steps.StepRun, cut: dt.date) -> int:
    """Customers with an approved purchase before CUT: everyone who should get a score."""
    return int(
        run.wh.scalar(
            "SELECT COUNT(DISTINCT customer_id) FROM raw.transactions WHERE txn_ts < :cut "
            "AND COALESCE(LOWER(status), 'approved') = 'approved'",
            {"cut": cut},
        )
    )


def ratios(report: dict[str, Any]) -> dict[str, float]:
    """Each target's measurement, from the report's seconds and counts."""
    seconds = {k: v["seconds"] for k, v in report["steps"].items()}
    ref = report["reference"]
    aggregate = max(ref["aggregate_seconds"], 1e-9)
    return {
        "ingest_over_plain_load": round(seconds["ingest"] / max(ref["load_seconds"], 1e-9), 2),
        "raw_gate_over_aggregate": round(seconds.get("quality_raw", 0) / aggregate, 2),
        "features_per_cutoff_over_aggregate": round(
            seconds["features"] / report["snapshots"] / aggregate, 2
        ),
        "scored_share_of_customers_with_history": round(
            report["steps"]["score"]["rows"] / max(report["customers_with_history"], 1), 4
        ),
        "scored_customers_per_second": report["scored_customers_per_second"],
        "peak_rss_gib": round(report["peak_rss_bytes"] / 2**30, 2),
        "total_seconds": report["total_seconds"],
    }


def judge(measured: dict[str, float]) -> dict[str, dict[str, Any]]:
    """{target: measured, limit, met}."""
    out = {}
    for name, limit, sense in TARGETS:
        value = measured[name]
        met = value <= limit if sense == "<=" else value >= limit
        out[name] = {"measured": value, "limit": f"{sense} {limit:g}", "met": met}
    return out


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
    sampler = RssSampler(set(STEP_ROWS) | {REFERENCES})
    total_start = time.perf_counter()
    with (
        sampler.running(),
        steps.run_session("bench", params, "bench", settings, steps.PLAIN) as run,
    ):
        steps.ingest_step(run, params)
        as_of = steps.resolve_as_of(run, params.as_of)
        steps.features_step(run, params, as_of)
        training = steps.train_step(run, params, as_of)
        steps.score_step(run, as_of)
        total_seconds = round(time.perf_counter() - total_start, 3)
        sampler.listen(REFERENCES)
        aggregate_seconds = reference_aggregate(run, as_of)
        history = with_history(run, as_of)
        eligible = scoring.eligible_customers(run.wh, as_of)
    log = run.log
    folder = steps.synthetic_landing(settings, params)
    load_seconds = reference_load(folder, settings)
    rows = log.counts["raw_transactions"]
    pandas_seconds = reference_pandas(folder, as_of) if rows <= pandas_limit else None
    step_report = {
        name: {
            "seconds": seconds,
            "rows": int(log.counts.get(STEP_ROWS.get(name, ""), 0)),
            "peak_rss_bytes": sampler.peaks.get(name),  # None: a sub-step (raw gate)
        }
        for name, seconds in log.seconds.items()
    }
    report = {
        "customers": customers,
        "transactions": rows,
        "snapshots": params.train_snapshots + 2,
        "customers_with_history": history,
        "customers_with_features": eligible,
        "steps": step_report,
        "reference": {
            "load_seconds": load_seconds,
            "aggregate_seconds": aggregate_seconds,
            "pandas_aggregate_seconds": pandas_seconds,
        },
        "total_seconds": total_seconds,
        "peak_rss_bytes": max(v for k, v in sampler.peaks.items() if k != REFERENCES),
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
    report["targets"] = judge(ratios(report))
    return report


def total_memory() -> int:
    """Physical memory in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def versions_of(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions."""
    from importlib.metadata import version

    return {n: version(n) for n in names}
