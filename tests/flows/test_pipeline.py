"""The whole pipeline end to end on DuckDB under one Prefect test harness."""

from __future__ import annotations

import json

import pytest

from tasks.warehouse.duckdb import DuckDBWarehouse

SMALL = {"customers": 600, "transactions": 60_000, "seed": 3}


def open_home(home) -> DuckDBWarehouse:
    """The warehouse file a flow wrote under HOME."""
    return DuckDBWarehouse(home / "warehouse.duckdb")


def snapshot(wh: DuckDBWarehouse, table: str) -> tuple:
    """(row count, hash sum over all columns) of TABLE."""
    return tuple(wh.con.execute(f"SELECT COUNT(*), SUM(HASH(t)) FROM {table} AS t").fetchone())


@pytest.fixture(scope="module")
def first_run(prefect_harness, tmp_path_factory):
    """Run the pipeline twice on one home; return (home, first result, second result)."""
    from flows.pipeline import customer_ml_pipeline

    home = tmp_path_factory.mktemp("pipeline")
    mp = pytest.MonkeyPatch()
    mp.setenv("LIFELINE_HOME", str(home))
    try:
        first = customer_ml_pipeline(**SMALL)
        wh = open_home(home)
        scores_after_first = snapshot(wh, "ml.customer_scores")
        wh.close()
        second = customer_ml_pipeline(**SMALL)
    finally:
        mp.undo()
    return home, first, second, scores_after_first


def test_pipeline_fills_every_contract_table(first_run):
    home, first, _, _ = first_run
    wh = open_home(home)
    for table in (
        "RAW.TRANSACTIONS",
        "RAW.CUSTOMERS",
        "FEATURES.CUSTOMER_FEATURES",
        "FEATURES.LABELS",
        "FEATURES.FEATURE_REGISTRY",
        "ML.CUSTOMER_SCORES",
    ):
        assert wh.row_count(table) > 0, table
    assert first["counts"]["rows_scored"] == wh.scalar(
        "SELECT COUNT(*) FROM ml.customer_scores WHERE as_of_date = :d", {"d": first["as_of"]}
    )
    assert first["metrics"]["churn_roc_auc"] > 0.6
    lineage = wh.fetch_frame(
        "SELECT DISTINCT flow_run_id, churn_model_version FROM ml.customer_scores"
    )
    assert lineage["FLOW_RUN_ID"].notna().all() and lineage["CHURN_MODEL_VERSION"].notna().all()
    recorded = wh.scalar(
        "SELECT parameters FROM ops.pipeline_runs WHERE flow_run_id = :r", {"r": first["run_id"]}
    )
    from tasks.params import PipelineParams

    # the whole parameter set, and the business policy the run resolved
    assert set(json.loads(recorded)) == set(PipelineParams.model_fields) | {"policy"}
    assert json.loads(recorded)["policy"]["features"]["btyd"] is False  # tests/policy.toml
    assert json.loads(recorded)["drift_threshold"] == first["drift_threshold"]
    assert wh.list_tables("ML", "STG_") == [] and wh.list_tables("FEATURES", "STG_") == []
    assert wh.row_count("ML.CUSTOMER_360") == wh.scalar(
        "SELECT COUNT(DISTINCT customer_id) FROM ml.customer_scores"
    )
    drift = wh.fetch_frame(
        "SELECT * FROM ml.drift_metrics WHERE flow_run_id = :r", {"r": first["run_id"]}
    )
    assert "CHURN_SCORE" in set(drift["FEATURE_NAME"]) and drift["PSI"].notna().all()
    wh.close()


@pytest.mark.scenario(1)
def test_rerun_adds_no_duplicates_and_keeps_the_champion(first_run):
    home, first, second, scores_after_first = first_run
    wh = open_home(home)
    assert wh.row_count("ML.CUSTOMER_SCORES") == scores_after_first[0]
    assert (
        wh.scalar(
            "SELECT COUNT(*) - COUNT(DISTINCT customer_id || CAST(as_of_date AS "
            "VARCHAR)) FROM ml.customer_scores"
        )
        == 0
    )
    assert second["counts"]["rows_ingested"] == 0 and second["counts"]["files_skipped"] > 0
    # same data, same holdout: the new version ties and is not promoted
    assert [d["promoted"] for d in second["promotion"]] == [False, False]
    # DuckDB sums doubles in parallel, so equal data can differ in the last bits
    assert second["metrics"] == pytest.approx(first["metrics"], rel=1e-9, nan_ok=True)
    wh.close()


def test_runs_and_gates_are_recorded(first_run):
    home, first, _, _ = first_run
    wh = open_home(home)
    runs = wh.fetch_frame(
        "SELECT * FROM ops.pipeline_runs WHERE flow_run_id = :r", {"r": first["run_id"]}
    )
    assert runs["STATUS"].tolist() == ["COMPLETED"]
    assert '"rows_scored"' in runs["ROW_COUNTS"].iloc[0]
    gates = wh.fetch_frame(
        "SELECT suite_name, success FROM ops.quality_results "
        "WHERE flow_run_id = :r ORDER BY suite_name",
        {"r": first["run_id"]},
    )
    assert gates["SUITE_NAME"].tolist() == [
        "customer_features",
        "customer_scores",
        "raw_transactions",
        "training_labels",
    ]
    assert gates["SUCCESS"].all()
    wh.close()


@pytest.mark.scenario(20)
def test_failed_score_gate_leaves_previous_scores_untouched(first_run, monkeypatch):
    from flows.score import score_flow
    from tasks import scoring
    from tasks.quality import QualityGateError

    home, first, _, _ = first_run
    wh = open_home(home)
    before = snapshot(wh, "ml.customer_scores")
    wh.close()
    real = scoring.score_frame

    def corrupt(*args, **kwargs):
        frame = real(*args, **kwargs)
        frame["CHURN_PROBABILITY"] = 1.5
        return frame

    monkeypatch.setattr(scoring, "score_frame", corrupt)
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    with pytest.raises(QualityGateError, match="CHURN_PROBABILITY"):
        score_flow(as_of=first["as_of"])
    wh = open_home(home)
    assert snapshot(wh, "ml.customer_scores") == before
    assert wh.list_tables("ML", "STG_") == []
    failed = wh.fetch_frame("SELECT status FROM ops.pipeline_runs WHERE flow_name = 'score'")
    assert failed["STATUS"].tolist() == ["FAILED"]
    wh.close()


@pytest.mark.scenario(28)
def test_invalid_parameters_are_rejected_before_any_task(prefect_harness, home):
    from prefect.exceptions import ParameterTypeError

    from flows.pipeline import customer_ml_pipeline

    with pytest.raises(ParameterTypeError):
        customer_ml_pipeline(trainer="sagemkr")
    with pytest.raises(ParameterTypeError):
        customer_ml_pipeline(as_of="not-a-date")
    assert not (home / "warehouse.duckdb").exists()


def truncate_portfolio(source, target, cut_off) -> None:
    """Copy a portfolio folder keeping only transactions before CUT_OFF."""
    import datetime as dt
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    shutil.copytree(source / "customers", target / "customers")
    (target / "transactions").mkdir(parents=True)
    for path in sorted((source / "transactions").glob("*.parquet")):
        table = pq.read_table(path)
        cut = pa.scalar(dt.datetime.combine(cut_off, dt.time()), type=table["TXN_TS"].type)
        keep = pc.less(table["TXN_TS"], cut)
        pq.write_table(table.filter(keep), target / "transactions" / path.name)


def test_back_test_equals_run_on_truncated_history(
    prefect_harness, portfolio, tmp_path, monkeypatch
):
    import datetime as dt

    from flows.pipeline import customer_ml_pipeline

    as_of = dt.date(2025, 10, 1)
    truncate_portfolio(portfolio, tmp_path / "short", as_of)
    results, tables = [], []
    for name, source in (("long", portfolio), ("short", tmp_path / "short")):
        monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / name))
        results.append(customer_ml_pipeline(source=str(source), as_of=as_of))
        wh = open_home(tmp_path / name)
        tables.append(
            {
                t: wh.con.execute(
                    f"SELECT * EXCLUDE (flow_run_id{extra}) FROM {t} ORDER BY ALL"
                ).fetch_df()
                for t, extra in (
                    ("features.customer_features", ""),
                    ("features.labels", ""),
                    ("ml.customer_scores", ", scored_at"),
                )
            }
        )
        wh.close()
    long, short = results
    assert long["counts"]["raw_transactions"] > short["counts"]["raw_transactions"]
    assert long["metrics"] == pytest.approx(short["metrics"], rel=1e-9, nan_ok=True)
    for name in tables[0]:
        assert len(tables[0][name]) > 0, name
        import pandas as pd

        pd.testing.assert_frame_equal(tables[0][name], tables[1][name], check_exact=True)

    # The loop closes: the long history has the 90 days after AS_OF, so the monitoring flow
    # judges those scores on what happened, beside the holdout of the model that made them.
    from flows.monitor import drift_flow

    monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / "long"))
    found = drift_flow(as_of=as_of)["realised"]
    assert [r["AS_OF_DATE"] for r in found] == [as_of.isoformat()]
    [row] = found
    assert row["CUSTOMERS"] > 0 and 0.5 < row["ROC_AUC"] <= 1 and row["ACTUAL_VALUE"] > 0
    assert row["HOLDOUT_ROC_AUC"] == pytest.approx(long["metrics"]["churn_roc_auc"])
    assert row["DEGRADED"] == (
        row["ROC_AUC"] < row["HOLDOUT_ROC_AUC"] - 0.05 or row["ECE"] > row["HOLDOUT_ECE"] + 0.05
    )
    assert drift_flow(as_of=as_of)["realised"] == []  # each scoring date is judged once
    wh = open_home(tmp_path / "long")
    stored = wh.fetch_frame("SELECT * FROM ml.realised_performance")
    wh.close()
    assert [d.date() for d in stored["AS_OF_DATE"]] == [as_of]
    assert stored["ROC_AUC"][0] == row["ROC_AUC"]


@pytest.mark.scenario(20)
def test_broken_labels_stop_the_features_flow_before_publishing(first_run, monkeypatch):
    from flows.features import features_flow
    from tasks.quality import QualityGateError

    home, first, _, _ = first_run
    monkeypatch.setenv("LIFELINE_HOME", str(home))
    wh = open_home(home)
    before = [snapshot(wh, t) for t in ("features.customer_features", "features.labels")]
    wh.close()
    from tasks import features

    real = features.stage_labels

    def broken_join(wh, *args, **kwargs):
        staging = real(wh, *args, **kwargs)
        wh.execute(f"UPDATE {staging} SET churned = 1")  # e.g. a label join that lost rows
        return staging

    monkeypatch.setattr(features, "stage_labels", broken_join)
    with pytest.raises(QualityGateError, match=r"expect_column_mean_to_be_between\(CHURNED\)") as e:
        features_flow(as_of=first["as_of"])
    assert "labelled rows (customers x cut-offs) churned: nobody bought again" in str(e.value)
    wh = open_home(home)
    assert [snapshot(wh, t) for t in ("features.customer_features", "features.labels")] == before
    assert wh.list_tables("FEATURES", "STG_") == []
    wh.close()


def test_unknown_status_stops_ingest_at_the_raw_gate(prefect_harness, tmp_path, monkeypatch):
    from flows.ingest import ingest_flow
    from tasks.ingest.loading import LoadRejectedError

    monkeypatch.setenv("LIFELINE_HOME", str(tmp_path / "raw-gate"))
    bad = tmp_path / "bad.csv"
    bad.write_text("cust,date,value,state\nA,20250101,10,approved\nA,20250102,11,chargeback\n")
    with pytest.raises(LoadRejectedError, match=r"expect_column_values_to_be_in_set\(STATUS\)"):
        ingest_flow(
            source=str(bad),
            columns={"customer_id": "cust", "txn_ts": "date", "amount": "value", "status": "state"},
        )
    wh = open_home(tmp_path / "raw-gate")
    gate = wh.fetch_frame("SELECT suite_name, success, failed_names FROM ops.quality_results")
    assert gate["SUCCESS"].tolist() == [False]
    # the load never reached RAW; the manifest says why, so a fixed policy can load it
    assert wh.row_count("RAW.TRANSACTIONS") == 0
    manifest = wh.fetch_frame("SELECT status, reason FROM raw.load_manifest")
    assert manifest["STATUS"].tolist() == ["rejected"]
    assert "STATUS" in manifest["REASON"].iloc[0]
    wh.close()


def test_clean_run_publishes_artifacts(first_run):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    _, first, _, _ = first_run
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[first["run_id"]])
            )
        )
    keys = {a.key for a in artifacts}
    assert {
        "quality-raw-transactions",
        "quality-customer-features",
        "quality-training-labels",
        "quality-customer-scores",
        "model-card",
        "risk-bands",
        "drift",
        "run-summary",
    } <= keys


def test_charts_are_in_mlflow_and_the_prefect_artifacts_show_them(first_run):
    import re

    from mlflow import MlflowClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    home, first, _, _ = first_run
    mlflow = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[first["run_id"]]),
                key=ArtifactFilterKey(any_=["model-card", "drift"]),
            )
        )
    shown = {}
    for artifact in artifacts:
        for run_id, path in re.findall(r"MLflow run `(\w+)`, artifact `([\w/.]+)`", artifact.data):
            shown[path] = run_id
            # a local store cannot be reached by a browser: the PNG is inlined next to its caption
            assert f"![{path.split('/')[-1][:-4]}](data:image/png;base64," in artifact.data
    assert set(shown) == {
        "charts/churn_calibration.png",
        "charts/churn_roc_lift.png",
        "charts/clv_deciles.png",
        "charts/drift_psi.png",
    }
    for path, run_id in shown.items():
        logged = {f.path for f in mlflow.list_artifacts(run_id, "charts")}
        assert path in logged
    assert mlflow.get_run(shown["charts/drift_psi.png"]).data.tags["lifeline.kind"] == "drift"
    assert "psi_RECENCY_DAYS" in mlflow.get_run(shown["charts/drift_psi.png"]).data.metrics
