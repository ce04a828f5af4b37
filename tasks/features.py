"""Point-in-time features, labels and training sets, computed in the warehouse."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

import pandas as pd

from tasks import btyd
from tasks.catalogue import FEATURE_DEFINITIONS, FEATURE_NAMES, FEATURE_SOURCES
from tasks.failpoints import failpoint
from tasks.identifiers import quote_identifier
from tasks.warehouse import Warehouse
from tasks.warehouse.sqlfiles import load_sql

FEATURES_TABLE = "FEATURES.CUSTOMER_FEATURES"
LABELS_TABLE = "FEATURES.LABELS"
FEATURE_SQL = (
    "features/10_build_customer_periods",
    "features/20_select_customer_features",
    "features/25_select_rfm",
)
STEP_DAYS = 30
LABEL_SQL = "features/30_select_labels"


@dataclass(frozen=True)
class Snapshot:
    """One cut-off of a run: score (the run's as-of), holdout, or train."""

    as_of_date: dt.date
    role: str


def feature_sql_hash() -> str:
    """SHA-256 of the feature SQL files."""
    return hashlib.sha256("".join(load_sql(n) for n in FEATURE_SQL).encode()).hexdigest()


def feature_version(features: tuple[str, ...] = FEATURE_NAMES) -> str:
    """A short hash of the feature SQL and the feature set: changes when either does."""
    text = feature_sql_hash() + "|" + ",".join(features)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def source_availability(wh: Warehouse) -> dict[str, bool]:
    """Which optional inputs this warehouse has (after FEATURES.CUSTOMER_PERIODS is built).

    Only customer id, timestamp and amount are required; a feature that reads anything else
    is used only when that input carries information.
    """
    periods = wh.fetch_frame(
        "SELECT SUM(declined_count) AS status, "
        "SUM(online_count + mobile_count + in_store_count) AS channel, "
        "SUM(ABS(travel_spend) + ABS(necessities_spend) + ABS(discretionary_spend)) AS category "
        "FROM features.customer_periods"
    ).iloc[0]
    customers = wh.fetch_frame(
        "SELECT COUNT(credit_limit) AS credit_limit, COUNT(age) AS age, "
        "COUNT(card_type) AS card_type FROM raw.customers"
    ).iloc[0]
    found = {k.lower(): bool(v) and not pd.isna(v) for k, v in periods.items()}
    return found | {k.lower(): int(v) > 0 for k, v in customers.items()}


def select_features(available: dict[str, bool]) -> tuple[str, ...]:
    """The catalogue's features whose inputs are available, in catalogue order."""
    return tuple(
        name
        for name in FEATURE_NAMES
        if FEATURE_SOURCES.get(name) is None or available.get(FEATURE_SOURCES[name], False)
    )


def grid_days(horizon_days: int) -> int:
    """Period length: every cut-off (as_of - k x horizon - j x 30 days) lies on this grid."""
    return math.gcd(STEP_DAYS, horizon_days)


def plan_snapshots(
    as_of: dt.date, horizon_days: int, train_snapshots: int = 6, step_days: int = STEP_DAYS
) -> list[Snapshot]:
    """Cut-offs derived only from AS_OF, so a back-test equals a run on truncated history.

    The holdout is the latest labelled cut-off (as_of - H); training cut-offs end at least H
    before the holdout, so no training label window overlaps the holdout's.
    """
    holdout = as_of - dt.timedelta(days=horizon_days)
    first_train = holdout - dt.timedelta(days=horizon_days)
    train = [first_train - dt.timedelta(days=step_days * k) for k in range(train_snapshots)]
    return [Snapshot(as_of, "score"), Snapshot(holdout, "holdout")] + [
        Snapshot(d, "train") for d in train
    ]


def record_snapshots(wh: Warehouse, run_id: str, snapshots: list[Snapshot]) -> None:
    """Write the run's cut-offs (replacing any from an earlier attempt of the same run)."""
    frame = pd.DataFrame(
        {
            "FLOW_RUN_ID": run_id,
            "AS_OF_DATE": [s.as_of_date for s in snapshots],
            "ROLE": [s.role for s in snapshots],
        }
    )
    with wh.transaction():
        wh.execute("DELETE FROM features.snapshot_dates WHERE flow_run_id = :r", {"r": run_id})
    wh.write_frame(frame, "FEATURES.SNAPSHOT_DATES", "append")


def run_snapshot_dates(wh: Warehouse, run_id: str) -> list[dt.date]:
    """The run's cut-offs, oldest first."""
    dates = wh.fetch_frame(
        "SELECT as_of_date FROM features.snapshot_dates WHERE flow_run_id = :r ORDER BY as_of_date",
        {"r": run_id},
    )["AS_OF_DATE"]
    return list(pd.to_datetime(dates).dt.date)


def check_grid(wh: Warehouse, run_id: str, as_of: dt.date, horizon_days: int) -> None:
    """Every snapshot of the run must sit on the period grid anchored at AS_OF."""
    grid = grid_days(horizon_days)
    off = [d for d in run_snapshot_dates(wh, run_id) if (as_of - d).days % grid or d > as_of]
    if off:
        raise ValueError(f"snapshots {off} are not on the {grid}-day grid ending at {as_of}")


def stage_btyd(
    wh: Warehouse, run_id: str, as_of: dt.date, horizon_days: int
) -> tuple[str, list[str]]:
    """Fit the BTYD models at every cut-off on the RFM summary; stage their predictions."""
    rfm = wh.fetch_frame(load_sql("features/25_select_rfm"), {"run_id": run_id})
    rfm["AS_OF_DATE"] = pd.to_datetime(rfm["AS_OF_DATE"]).dt.date
    pareto = {as_of, as_of - dt.timedelta(days=horizon_days)}  # scoring and holdout cut-offs
    frame, problems = btyd.btyd_features(rfm, horizon_days, pareto)
    staging = wh.staging_name(FEATURES_TABLE)
    wh.load_staging(frame.astype({c: float for c in btyd.BTYD_COLUMNS}), staging)
    return staging, problems


def btyd_join(btyd_table: str | None) -> tuple[str, str]:
    """(the BTYD columns, the join that brings them) for one cut-off's feature rows."""
    if not btyd_table:
        return ", ".join(f"CAST(NULL AS DOUBLE) AS {c}" for c in btyd.BTYD_COLUMNS), ""
    columns = ", ".join(f"b.{c}" for c in btyd.BTYD_COLUMNS)
    join = (
        "LEFT JOIN (SELECT * FROM "
        f"{quote_identifier(btyd_table)} WHERE CAST(as_of_date AS DATE) = :as_of_date) AS b "
        "ON b.customer_id = f.customer_id"
    )
    return columns, join


def stage_cutoff_features(
    wh: Warehouse, run_id: str, lookback_days: int, btyd_table: str | None, version: str
) -> str:
    """Stage every cut-off's feature rows with their BTYD columns, one cut-off per statement.

    All cut-offs at once join every customer's periods to each of them in one statement:
    at 1 M customers ~200 M rows, which spilled past 60 GB of disk. One at a time holds a
    twelfth of that, and is faster at 50 K customers too (3.3 s -> 2.8 s for 12). Each
    cut-off joins only its own BTYD rows, so the staged rows are written once, not copied
    again to add those columns (1 M customers: 15 s).
    """
    columns, join = btyd_join(btyd_table)
    sql = (
        f"SELECT f.*, {columns}, :version AS feature_version, :run_id AS flow_run_id "
        f"FROM ({load_sql('features/20_select_customer_features')}\n) AS f {join}"
    )
    first, *rest = run_snapshot_dates(wh, run_id) or [None]
    params = {"run_id": run_id, "lookback_days": lookback_days, "version": version}
    # Only this session reads the staged rows (gates, then publish), so DuckDB keeps them in
    # a temporary table (spilled to disk past its memory cap), appended in one transaction:
    # autocommitted appends to a stored table took as long again as computing the rows
    # (tier L, 12 cut-offs: 4.8 s -> 2.4 s). Snowflake keeps a table and commits once.
    staging = wh.stage_select(
        FEATURES_TABLE, sql, params | {"as_of_date": first}, session_only=True
    )
    try:
        with wh.transaction():
            for as_of_date in rest:
                wh.execute(
                    f"INSERT INTO {quote_identifier(staging)} {sql}",
                    params | {"as_of_date": as_of_date},
                )
    except BaseException:
        wh.drop_table(staging)
        raise
    return staging


def stage_feature_rows(
    wh: Warehouse,
    run_id: str,
    as_of: dt.date,
    horizon_days: int,
    lookback_days: int = 0,
    fit_btyd: bool = True,
) -> tuple[str, tuple[str, ...], list[str]]:
    """Aggregate transactions to customer x period once, then stage every snapshot's features.

    The BTYD models are fitted first (on the periods' RFM summary), so each snapshot's rows
    are staged with their BTYD columns in one write. Returns the staging table, the features
    this warehouse's inputs support, and any problems fitting the BTYD models (those
    cut-offs get NULL BTYD values).
    """
    check_grid(wh, run_id, as_of, horizon_days)
    wh.run_sql_file(
        "features/10_build_customer_periods",
        {"as_of": as_of, "grid_days": grid_days(horizon_days)},
    )
    problems: list[str] = []
    btyd_table = None
    try:
        if fit_btyd:
            btyd_table, problems = stage_btyd(wh, run_id, as_of, horizon_days)
        fitted = btyd_table is not None and bool(
            wh.scalar(f"SELECT COUNT(bgnbd_p_alive) FROM {quote_identifier(btyd_table)}")
        )
        features = select_features(source_availability(wh) | {"btyd": fitted})
        version = feature_version(features)
        staging = stage_cutoff_features(wh, run_id, lookback_days, btyd_table, version)
    finally:
        if btyd_table:
            wh.drop_table(btyd_table)
    return staging, features, problems


def stage_labels(
    wh: Warehouse, run_id: str, as_of: dt.date, horizon_days: int, spend_drop_ratio: float
) -> str:
    """Stage labels for the labelled snapshots (T + H <= as_of)."""
    select = "SELECT q.*, :run_id AS flow_run_id FROM (" + load_sql(LABEL_SQL) + ") AS q"
    params = {
        "run_id": run_id,
        "as_of": as_of,
        "horizon_days": horizon_days,
        "spend_drop_ratio": spend_drop_ratio,
    }
    staging = wh.stage_select(LABELS_TABLE, select, params)
    failpoint("features.after_staging")  # labels are staged after features
    return staging


@dataclass(frozen=True)
class FeatureStaging:
    """The staging tables of one features run, the feature set and any BTYD fit problems."""

    features: str
    labels: str
    feature_names: tuple[str, ...] = FEATURE_NAMES
    problems: tuple[str, ...] = ()

    @property
    def tables(self) -> tuple[str, str]:
        """Both staging tables, for gates and clean-up."""
        return self.features, self.labels


def stage_features(
    wh: Warehouse,
    run_id: str,
    as_of: dt.date,
    horizon_days: int,
    train_snapshots: int,
    spend_drop_ratio: float,
    lookback_days: int = 0,
    fit_btyd: bool = True,
) -> FeatureStaging:
    """Record the run's cut-offs, then stage features and labels for every one of them."""
    record_snapshots(wh, run_id, plan_snapshots(as_of, horizon_days, train_snapshots))
    features, names, problems = stage_feature_rows(
        wh, run_id, as_of, horizon_days, lookback_days, fit_btyd
    )
    labels = ""
    try:
        labels = stage_labels(wh, run_id, as_of, horizon_days, spend_drop_ratio)
        check_history(wh, labels, as_of, horizon_days)
    except BaseException:
        for table in (features, labels):
            if table:
                wh.drop_table(table)
        raise
    return FeatureStaging(features, labels, names, tuple(problems))


class ShortHistoryError(ValueError):
    """The log is too short for one training cut-off, its label window and the holdout's."""


def check_history(wh: Warehouse, staged_labels: str, as_of: dt.date, horizon_days: int) -> None:
    """Raise one line saying how much history is missing when no training cut-off has labels."""
    first_train = as_of - dt.timedelta(days=2 * horizon_days)
    labelled = wh.scalar(
        f"SELECT COUNT(*) FROM {quote_identifier(staged_labels)} "
        "WHERE CAST(as_of_date AS DATE) <= :d",
        {"d": first_train},
    )
    if labelled:
        return
    first = wh.scalar("SELECT MIN(txn_ts) FROM raw.transactions WHERE txn_ts < :d", {"d": as_of})
    if first is None:
        raise ShortHistoryError(f"no transactions before {as_of}: load a log or pick a later as-of")
    start = pd.Timestamp(first).date()
    raise ShortHistoryError(
        f"the log before {as_of} starts on {start}, {(as_of - start).days} day(s) earlier; a "
        f"{horizon_days}-day horizon needs purchases before {first_train} ({2 * horizon_days} "
        "days: a training cut-off and its label window, then the holdout's): load a longer "
        "history or pass a shorter --horizon-days (parameter horizon_days)"
    )


def one_class_reason(wh: Warehouse, staged_labels: str, horizon_days: int) -> str | None:
    """Why the labels hold one class only (everyone churned, or nobody did); None if both."""
    counts = wh.fetch_frame(
        "SELECT COUNT(*) AS n, SUM(CAST(churned AS INTEGER)) AS churned "
        f"FROM {quote_identifier(staged_labels)}"
    ).iloc[0]
    n, churned = int(counts["N"]), int(counts["CHURNED"] or 0)
    if not n or 0 < churned < n:
        return None
    rows = f"all {n:,} labelled rows (customers x cut-offs)"
    if churned:
        return (
            f"{rows} churned: nobody bought again within {horizon_days} days of a cut-off; if "
            "the log is right, a longer --horizon-days (parameter horizon_days) may find some "
            "who stay (a log where each customer buys once has none)"
        )
    return (
        f"{rows} stayed: every customer bought again within {horizon_days} days of each "
        "cut-off; if the log is right, a shorter --horizon-days (parameter horizon_days) or "
        "more customers may show some churn"
    )


def churn_rate_shift(
    wh: Warehouse, staged_labels: str, horizon_days: int
) -> tuple[float, float] | None:
    """(published, staged) churn rate at each one's latest labelled cut-off; None if new."""
    rates = []
    for table in (LABELS_TABLE, staged_labels):
        target = quote_identifier(table)
        rate = wh.scalar(
            f"SELECT AVG(CAST(churned AS DOUBLE)) FROM {target} WHERE horizon_days = :h "
            f"AND as_of_date = (SELECT MAX(as_of_date) FROM {target} WHERE horizon_days = :h)",
            {"h": horizon_days},
        )
        if rate is None or pd.isna(rate):
            return None
        rates.append(float(rate))
    return rates[0], rates[1]


def ensure_like(wh: Warehouse, table: str, staging: str) -> None:
    """Create TABLE shaped like STAGING, or recreate it when the feature set changed."""
    if wh.table_exists(table):
        if wh.columns_of(table) == wh.columns_of(staging):
            return
        # Features are derived data: a new definition rebuilds the table rather than mixing.
        wh.drop_table(table)
    wh.execute(
        f"CREATE TABLE {quote_identifier(table)} AS SELECT * FROM {quote_identifier(staging)} "
        "WHERE 1 = 0"
    )


def publish_partitions(
    wh: Warehouse, staging: str, table: str, keys: tuple[str, ...] = ("AS_OF_DATE",)
) -> int:
    """Replace TABLE's partitions present in STAGING with STAGING's rows, in one transaction."""
    target, source = quote_identifier(table), quote_identifier(staging)
    match = " AND ".join(f"t.{k} = s.{k}" for k in (quote_identifier(k, 1) for k in keys))
    key_list = ", ".join(quote_identifier(k, 1) for k in keys)
    with wh.transaction():
        wh.execute(
            f"DELETE FROM {target} AS t WHERE EXISTS (SELECT 1 FROM "
            f"(SELECT DISTINCT {key_list} FROM {source}) AS s WHERE {match})"
        )
        failpoint(f"{table.split('.')[0].lower()}.inside_publish")
        wh.execute(f"INSERT INTO {target} SELECT * FROM {source}")
    return wh.row_count(staging)


def publish_feature_tables(wh: Warehouse, staging: FeatureStaging) -> dict:
    """Publish staged features and labels (each atomically) and refresh the latest view."""
    failpoint("features.before_publish")
    ensure_like(wh, FEATURES_TABLE, staging.features)
    counts = {
        "features": publish_partitions(wh, staging.features, FEATURES_TABLE),
        "labels": publish_partitions(
            wh, staging.labels, LABELS_TABLE, ("AS_OF_DATE", "HORIZON_DAYS")
        ),
    }
    wh.run_sql_file("features/40_create_latest_customer_features")
    failpoint("features.after_publish")
    return counts


def publish_features(wh: Warehouse, staging: FeatureStaging) -> dict:
    """Publish gated features and labels, register their definitions, drop the staging tables.

    Staging stays when publishing fails, so a retry can publish it; the next run's start
    drops whatever a failed run left.
    """
    counts = publish_feature_tables(wh, staging)
    counts["feature_version"] = register_features(wh, staging.feature_names)
    for table in staging.tables:
        wh.drop_table(table)
    return counts


def register_features(wh: Warehouse, features: tuple[str, ...] = FEATURE_NAMES) -> str:
    """Record the feature set in FEATURES.FEATURE_REGISTRY; return its version."""
    sql_hash = feature_sql_hash()
    version = feature_version(features)
    frame = pd.DataFrame(
        {
            "FEATURE_NAME": list(features),
            "ENTITY": "CUSTOMER",
            "VERSION": version,
            "DESCRIPTION": [FEATURE_DEFINITIONS[f] for f in features],
            "SQL_HASH": sql_hash,
            "CREATED_AT": pd.Timestamp.now("UTC").tz_localize(None),
        }
    )
    wh.write_frame(frame, "FEATURES.FEATURE_REGISTRY", "merge", ("FEATURE_NAME", "VERSION"))
    return version


def drop_stale_staging(wh: Warehouse) -> list[str]:
    """Drop staging tables left by a killed run (they are never read after their run)."""
    stale = [t for s in ("RAW", "FEATURES", "ML", "OPS") for t in wh.list_tables(s, "STG_")]
    for table in stale:
        wh.drop_table(table)
    return stale


SAMPLE_BUCKETS = 1_000_000
TRAINING_SET_SQL = (
    "SELECT s.role, f.*, l.churned, l.future_value, l.baseline_value "
    "FROM features.snapshot_dates AS s "
    "INNER JOIN features.customer_features AS f ON f.as_of_date = s.as_of_date "
    "INNER JOIN features.labels AS l ON l.customer_id = f.customer_id "
    "AND l.as_of_date = f.as_of_date AND l.horizon_days = :h "
    "WHERE s.flow_run_id = :r AND (s.role = 'holdout' OR s.role = 'train' AND NOT :holdout_only) "
)


@dataclass(frozen=True)
class TrainingSet:
    """A run's training set where it lives: its cut-offs joined to their labels."""

    run_id: str
    horizon_days: int
    keep_share: float = 1.0  # below 1: training rows of that share of customers, whole

    def train_rows(self, wh: Warehouse) -> int:
        """Labelled training rows at the run's training cut-offs (of the sample, if one)."""
        sql, params = self.query(holdout_only=False)
        return int(wh.scalar(f"SELECT COUNT(*) FROM ({sql}) AS t WHERE t.role = 'train'", params))

    def query(self, holdout_only: bool) -> tuple[str, dict]:
        """The training set's SELECT and binds; a hash of the customer id picks the sample."""
        params = {"r": self.run_id, "h": self.horizon_days, "holdout_only": holdout_only}
        if self.keep_share >= 1:
            return TRAINING_SET_SQL, params
        # Whole customers, so no customer is in training at one cut-off and not the next;
        # the holdout is never sampled.
        params["keep"] = int(SAMPLE_BUCKETS * self.keep_share)
        sample = f"AND (s.role = 'holdout' OR ABS(HASH(f.customer_id)) % {SAMPLE_BUCKETS} < :keep) "
        return TRAINING_SET_SQL + sample, params

    def feature_names(self, wh: Warehouse) -> tuple[str, ...]:
        """The registered features of this run's training rows (common to all their versions)."""
        versions = wh.fetch_frame(
            "SELECT DISTINCT f.feature_version FROM features.snapshot_dates AS s "
            "INNER JOIN features.customer_features AS f ON f.as_of_date = s.as_of_date "
            "WHERE s.flow_run_id = :r AND s.role IN ('train', 'holdout')",
            {"r": self.run_id},
        )["FEATURE_VERSION"].tolist()
        registry = (
            wh.fetch_frame(
                "SELECT version, feature_name FROM features.feature_registry WHERE version IN ("
                + ", ".join(f":v{i}" for i in range(len(versions)))
                + ")",
                {f"v{i}": v for i, v in enumerate(versions)},
            )
            if versions
            else pd.DataFrame(columns=["VERSION", "FEATURE_NAME"])
        )
        sets = [set(g["FEATURE_NAME"]) for _, g in registry.groupby("VERSION")]
        if not sets or len(sets) < len(versions):
            return FEATURE_NAMES  # rows from before the registry recorded feature sets
        common = set.intersection(*sets)
        return tuple(name for name in FEATURE_NAMES if name in common)

    def fetch(self, wh: Warehouse, holdout_only: bool = False) -> pd.DataFrame:
        """Features at T joined to labels after T, for the train and holdout cut-offs."""
        sql, params = self.query(holdout_only)
        return wh.fetch_frame(sql + "ORDER BY f.as_of_date, f.customer_id", params)

    def stage(self, wh: Warehouse) -> str:
        """The training set as a staging table, for trainers that read inside the warehouse."""
        digest = hashlib.sha256(self.run_id.encode()).hexdigest()[:12].upper()
        table = f"ML.STG_TRAINING_{digest}"
        wh.drop_table(table)
        sql, params = self.query(holdout_only=False)
        wh.execute(f"CREATE TABLE {quote_identifier(table, 2)} AS {sql}", params)
        return table
