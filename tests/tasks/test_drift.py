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
    assert wh.row_count("ML.DRIFT_METRICS") == len(FEATURE_NAMES)
