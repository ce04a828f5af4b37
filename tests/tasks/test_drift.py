"""Drift: a shifted feature is flagged, an unshifted population is not."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from tasks.catalogue import FEATURE_NAMES
from tasks.drift import compute_drift, population_stability, record_drift
from tasks.params import DriftParams

PSI = DriftParams().drift_threshold


def population(n: int, seed: int, shift: dict | None = None) -> pd.DataFrame:
    """Independent draws of every feature from the same distributions (optionally shifted)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.gamma(2.0, 10.0, size=(n, len(FEATURE_NAMES))), columns=FEATURE_NAMES)
    frame["TENURE_DAYS"] += 400  # a mature portfolio: every window is fully observed
    for name, factor in (shift or {}).items():
        frame[name] = frame[name] * factor + 15
    return frame


def test_unshifted_population_is_not_flagged():
    report = compute_drift(
        population(5000, 1),
        population(5000, 2),
        FEATURE_NAMES,
        None,
        dt.date(2025, 6, 1),
        dt.date(2025, 1, 1),
        PSI,
    )
    assert report.drifted == []
    assert max(report.psi.values()) < 0.05


def test_shifted_feature_is_flagged_alone():
    current = population(5000, 2, shift={"SPEND_90": 1.8})
    report = compute_drift(
        population(5000, 1),
        current,
        FEATURE_NAMES,
        None,
        dt.date(2025, 6, 1),
        dt.date(2025, 1, 1),
        PSI,
    )
    assert report.drifted == ["SPEND_90"]


def test_psi_handles_nulls_and_constants():
    ref = np.array([1.0] * 50 + [np.nan] * 50)
    assert population_stability(ref, ref.copy()) < 1e-9
    assert population_stability(ref, np.array([np.nan] * 100)) > 0.2


def test_drift_rows_are_merged_by_run_and_feature(wh):
    report = compute_drift(
        population(500, 1),
        population(500, 2),
        FEATURE_NAMES,
        None,
        dt.date(2025, 6, 1),
        dt.date(2025, 1, 1),
        PSI,
    )
    record_drift(wh, report, "run-1")
    record_drift(wh, report, "run-1")
    assert (
        wh.row_count("ML.DRIFT_METRICS") == len(FEATURE_NAMES) - 1
    )  # TENURE_DAYS: by construction


def features_between(tmp_path, source, as_of: dt.date) -> tuple:
    """Features at the holdout cut-off (as_of - 90) and at AS_OF, from one features step."""
    from tasks import steps
    from tasks.params import PipelineParams
    from tasks.settings import load_settings

    settings = load_settings(home=tmp_path / "home")
    params = PipelineParams(source=str(source), as_of=as_of, train_snapshots=1)
    with steps.run_session("drift-test", params, "drift-test", settings, steps.PLAIN) as run:
        steps.ingest_step(run, params)
        steps.features_step(run, params, as_of)
        fetch = run.wh.fetch_frame
        query = "SELECT * FROM features.customer_features WHERE as_of_date = :d"
        reference = fetch(query, {"d": as_of - dt.timedelta(days=90)})
        current = fetch(query, {"d": as_of})
    return reference, current


def test_healthy_history_raises_no_alarm_and_tripled_spend_does(portfolio, tmp_path):
    log = pd.concat(pd.read_parquet(p) for p in sorted((portfolio / "transactions").glob("*")))
    as_of = (log["TXN_TS"].max() + pd.Timedelta(days=1)).date()
    recent = log["TXN_TS"] >= pd.Timestamp(as_of - dt.timedelta(days=90))
    customers = sorted(log["CUSTOMER_ID"].unique())
    half = log["CUSTOMER_ID"].isin(customers[: len(customers) // 2])
    for name, frame in (
        ("clean", log),
        ("shifted", log.assign(AMOUNT=np.where(recent & half, log["AMOUNT"] * 3, log["AMOUNT"]))),
    ):
        folder = tmp_path / name
        folder.mkdir()
        frame.to_parquet(folder / "log.parquet", index=False)
        reference, current = features_between(tmp_path / f"{name}-run", folder, as_of)
        report = compute_drift(reference, current, FEATURE_NAMES[:19], None, as_of, as_of, PSI)
        if name == "clean":
            assert report.drifted == [], report.psi
        else:
            assert {"SPEND_30", "SPEND_90"} & set(report.drifted), report.psi


def young_log(n: int, seed: int, history_days: int) -> pd.DataFrame:
    """Steady customers of a log that started HISTORY_DAYS before the cut-off."""
    rng = np.random.default_rng(seed)
    frame = population(n, seed)
    tenure = history_days - rng.integers(0, 30, n)
    rate = rng.gamma(2.0, 0.05, n)  # purchases per day, the same at every cut-off
    months = np.minimum(np.floor(tenure / 30), 12)
    frame["TENURE_DAYS"] = tenure
    frame["TXN_COUNT_360"] = rng.poisson(rate * np.minimum(tenure, 360))
    frame["SPEND_LIFETIME"] = rate * tenure * 40
    frame["ACTIVE_MONTHS_12"] = np.minimum(rng.binomial(months.astype(int), 0.9), 12)
    return frame


def test_a_young_log_growing_into_its_windows_raises_no_alarm():
    # Complete Journey-like: six months of history at the reference, nine at scoring.
    features = ("TXN_COUNT_360", "SPEND_LIFETIME", "ACTIVE_MONTHS_12", "TENURE_DAYS")
    report = compute_drift(
        young_log(3000, 1, 184),
        young_log(3000, 2, 274),
        features,
        None,
        dt.date(2017, 10, 2),
        dt.date(2017, 7, 4),
        PSI,
    )
    assert report.drifted == [], report.psi
    assert "TENURE_DAYS" not in report.psi  # grows by exactly the days between cut-offs
    assert "ACTIVE_MONTHS_12" not in report.psi  # its 12 months are not yet observed
    assert set(report.not_compared) == {"ACTIVE_MONTHS_12", "TENURE_DAYS"}
    assert {"TXN_COUNT_360", "SPEND_LIFETIME"} <= set(report.psi)
    # raw counts would have alarmed: the comparison, not the threshold, makes it quiet
    raw = young_log(3000, 1, 184)["ACTIVE_MONTHS_12"], young_log(3000, 2, 274)["ACTIVE_MONTHS_12"]
    assert population_stability(*raw) > PSI


def alive(n: int, seed: int, shift: float = 0.0, lapsed: float = 0.0) -> pd.DataFrame:
    """P(alive) as on Complete Journey: most customers within a thousandth of 1."""
    rng = np.random.default_rng(seed)
    p = np.clip(1 - rng.gamma(0.3, 0.004, n) - shift, 0, 1)
    gone = rng.random(n) < lapsed
    p[gone] = rng.uniform(0.05, 0.6, gone.sum())
    return pd.DataFrame({"BGNBD_P_ALIVE": p, "TENURE_DAYS": 400.0})


def test_probabilities_are_compared_in_percentage_points():
    # A refit moving everyone's P(alive) by 0.0003 is not drift; a fifth of them lapsing is.
    def drifted(current: pd.DataFrame) -> list[str]:
        dates = (dt.date(2018, 1, 2), dt.date(2017, 10, 4))
        return compute_drift(alive(3000, 1), current, ("BGNBD_P_ALIVE",), None, *dates, PSI).drifted

    assert drifted(alive(3000, 2, shift=0.0003)) == []
    # the raw deciles, ten-thousandths apart, would have alarmed
    raw = alive(3000, 1)["BGNBD_P_ALIVE"], alive(3000, 2, shift=0.0003)["BGNBD_P_ALIVE"]
    assert population_stability(*raw) > PSI
    assert drifted(alive(3000, 2, lapsed=0.2)) == ["BGNBD_P_ALIVE"]
