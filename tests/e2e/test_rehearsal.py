"""Production rehearsal: the deployed path for three simulated days, then the faults.

Real parts: `prefect server` (with its automations), `mlflow server`, moto's S3 server for
the landing prefix, `prefect deploy --all` from prefect.yaml, and two process work pools
whose workers run in their own folders and share nothing but the warehouse (the DuckDB
file under the job's LIFELINE_HOME) and the MLflow server. Each simulated day a file lands
in S3 and the deployments' runs are created in the order their schedules fire on that day
(computed from the schedules on the server); each run is waited for, as the hours between
them would. The alert automations are created by `lifeline automations`, the deploy step,
and their notifications are received on a local webhook.

The summary (per day: runs, states, scored rows, alerts) is printed and written to
$LIFELINE_REHEARSAL_REPORT when set.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.servers import (
    BIN,
    ROOT,
    create_work_pools,
    mlflow_server,
    moto_s3_server,
    prefect,
    prefect_server,
    save_results_block,
    worker,
)
from tests.e2e.test_prefect_deployment import current_branch
from tests.test_deployments import fire_times

pytestmark = pytest.mark.e2e

ENV = "rehearsal"
POOL, TRAIN_POOL = f"lifeline-process-{ENV}", f"lifeline-train-{ENV}"
BUCKET = "rehearsal-data"
LANDING = f"s3://{BUCKET}/landing"
# Monday to Wednesday; each morning brings the previous day's transactions.
DAYS = (dt.date(2025, 12, 29), dt.date(2025, 12, 30), dt.date(2025, 12, 31))
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# The hourly ingest fires 24 times a day; files land once, so the 05:15 run loads them and
# the 06:15 one stands for the other 23, which list S3 and find nothing new.
INGEST_HOURS = (5, 6)
RUN_TIMEOUT_S = 900


class Webhook(http.server.ThreadingHTTPServer):
    """A local endpoint collecting the JSON the alert block posts (what Slack would get)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.arrived: list[float] = []  # monotonic time of each, to place it in a day
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append(json.loads(self.rfile.read(length) or b"{}"))
                outer.arrived.append(time.monotonic())
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def wait_for(self, *texts: str, timeout_s: float = 120) -> str:
        """The first alert containing every one of TEXTS (fails the test after TIMEOUT_S)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for message in list(self.received):
                if all(t in message.get("text", "") for t in texts):
                    return message["text"]
            time.sleep(1)
        raise AssertionError(f"no alert with {texts!r}; received {self.received}")


@dataclass
class Fired:
    """One run the rehearsal created, as the schedule would have, and how it ended."""

    day: str
    at: str
    deployment: str
    state: str = ""
    message: str = ""
    seconds: float = 0.0
    scored_rows: int | None = None
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)


@dataclass
class Rehearsal:
    """The servers, the clients' environment and the record of every run."""

    tmp: Path
    env: dict
    s3_url: str
    job_env: dict
    warehouse: Path
    deployments: dict = field(default_factory=dict)
    fired: list[Fired] = field(default_factory=list)

    def s3(self):
        """A boto3 client on the moto server."""
        import boto3

        return boto3.client("s3", endpoint_url=self.s3_url, **lower_keys(AWS))

    def land(self, path: Path, key: str) -> None:
        """Drop a file into the landing prefix, as the upstream export does."""
        self.s3().upload_file(str(path), BUCKET, f"landing/{key}")

    def start(self, name: str, parameters: dict | None = None, **overrides):
        """Create a run of deployment NAME (parameters, job env overrides); do not wait."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return client.create_flow_run_from_deployment(
                self.deployments[name].id,
                parameters=parameters,
                job_variables={"env": self.job_env | overrides},
                tags=["rehearsal"],
            )

    def finish(self, day: str, at: str, name: str, run, started: float | None = None) -> Fired:
        """Wait for RUN to end; record it."""
        started = time.monotonic() if started is None else started
        state = wait_terminal(run.id)
        run = read_run(run.id)
        seconds = (run.end_time - run.expected_start_time).total_seconds()
        fired = Fired(day, at, name, state.name, state.message or "", seconds, started=started)
        self.fired.append(fired)
        return fired

    def fire(self, day: str, at: str, name: str, parameters=None, **overrides) -> Fired:
        """Create a run of deployment NAME and wait for it, as the hours between runs would."""
        return self.finish(day, at, name, self.start(name, parameters, **overrides))

    def query(self, sql: str) -> list[tuple]:
        """Read the shared warehouse between runs (read-only: no run holds it then)."""
        import duckdb

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


def lower_keys(env: dict) -> dict:
    """AWS_* variables as boto3 client keyword arguments."""
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


def read_run(run_id):
    """The flow run as the API has it."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def wait_state(run_id, reached, timeout_s: float):
    """Poll the run through the API until REACHED(state); that state."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout_s
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            state = client.read_flow_run(run_id).state
            if state is not None and reached(state):
                return state
            time.sleep(0.5)
    raise AssertionError(f"flow run {run_id} not there after {timeout_s} s")


def wait_terminal(run_id, timeout_s: float = RUN_TIMEOUT_S):
    """The run's final state."""
    return wait_state(run_id, lambda state: state.is_final(), timeout_s)


def wait_running(run_id, timeout_s: float = 300) -> None:
    """Until the run is Running (its process started)."""
    wait_state(run_id, lambda state: state.is_running(), timeout_s)


def day_schedule(deployments: dict, day: dt.date) -> list[tuple[dt.datetime, str]]:
    """(time, deployment) for every run the server's schedules fire on DAY, in order."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return sorted(
        (when, name)
        for name, deployment in deployments.items()
        for schedule in deployment.schedules
        for when in fire_times(schedule.schedule.cron, start)
        if name != "hourly-ingest" or when.hour in INGEST_HOURS
    )


def write_landing_files(tmp: Path) -> tuple[Path, Path, dict[dt.date, Path]]:
    """A synthetic portfolio cut into history (before Monday's file) and one CSV per day."""
    import duckdb

    from tasks.synthetic import generate_portfolio

    result = generate_portfolio(tmp / "gen", 500, 40_000, seed=5, end=DAYS[-1] - dt.timedelta(1))
    glob = str(tmp / "gen" / "transactions" / "*.parquet")
    history = tmp / "history.parquet"
    first = DAYS[0] - dt.timedelta(days=1)
    with duckdb.connect() as con:
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{glob}') WHERE txn_ts < DATE '{first}') "
            f"TO '{history}' (FORMAT parquet)"
        )
        daily = {}
        for day in DAYS:
            previous = day - dt.timedelta(days=1)
            daily[day] = tmp / f"{previous}.csv"
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{glob}') WHERE CAST(txn_ts AS DATE) = "
                f"DATE '{previous}' ORDER BY txn_ts) TO '{daily[day]}' (HEADER)"
            )
    return result.customer_files[0], history, daily


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """Servers up, deployments and automations created, both workers running."""
    tmp = tmp_path_factory.mktemp("rehearsal")
    webhook = Webhook()
    with (
        prefect_server(tmp) as env,
        mlflow_server(tmp, env) as mlflow_url,
        moto_s3_server(tmp, env) as s3_url,
    ):
        create_work_pools(env, [POOL, TRAIN_POOL], f"lifeline-ecs-{ENV}")
        save_results_block(env, "lifeline-rehearsal-results", tmp / "results")
        deploy_env = env | {
            "LIFELINE_ENV": ENV,
            "LIFELINE_REPO_URL": str(ROOT),  # workers clone this checkout's committed HEAD
            "LIFELINE_GIT_BRANCH": current_branch(),
            "LIFELINE_IMAGE": f"lifeline-flows:{ENV}",
            "LIFELINE_SOURCE_URI": LANDING,
            "LIFELINE_RESULT_STORAGE": "local-file-system/lifeline-rehearsal-results",
            # Terraform's lifeline_settings
            "LIFELINE_SNOWFLAKE_DATABASE": "LIFELINE_REHEARSAL",
            "LIFELINE_SNOWFLAKE_WAREHOUSE": "LIFELINE_REHEARSAL_WH",
            "LIFELINE_MLFLOW_TRACKING_URI": mlflow_url,
            "LIFELINE_S3_BUCKET": BUCKET,
            "LIFELINE_S3_PREFIX": "lifeline",
            "LIFELINE_SAGEMAKER_ROLE_ARN": "",
            "LIFELINE_SNOWFLAKE_LANDING_STAGE": "",
            "LIFELINE_SNOWFLAKE_LANDING_URL": "",
        }
        prefect(deploy_env, "deploy", "--all")
        # The retrain gets its own pool (ECS in production; a second VM here).
        prefect(deploy_env, "deploy", "--name", "weekly-retrain", "--pool", TRAIN_POOL)
        alerts = subprocess.run(
            [str(BIN / "lifeline"), "automations", "--prefix", f"lifeline-{ENV}"],
            env=env | {"LIFELINE_ALERT_WEBHOOK_URL": webhook.url},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert alerts.returncode == 0, alerts.stderr
        warehouse_home = tmp / "warehouse"
        job_env = AWS | {
            "AWS_ENDPOINT_URL_S3": s3_url,  # boto3 reads it: the landing bucket is moto's
            "LIFELINE_TARGET": "local",  # the deployments say snowflake; no account here
            "LIFELINE_HOME": str(warehouse_home),  # the shared warehouse (and its lock)
            "LIFELINE_MLFLOW_TRACKING_URI": mlflow_url,
        }
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_API_URL, temporary_settings

        # An env var is not enough: prefect, once imported, keeps the settings it read then.
        with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
            with get_client(sync_client=True) as client:
                deployments = {d.name: d for d in client.read_deployments()}
            assert set(deployments) >= {"hourly-ingest", "weekly-retrain"}, sorted(deployments)
            state = Rehearsal(
                tmp, env, s3_url, job_env, warehouse_home / "warehouse.duckdb", deployments
            )
            state.s3().create_bucket(Bucket=BUCKET)
            with (
                worker(env | AWS, POOL, tmp / "worker-a", tmp / "worker-a.log"),
                worker(env | AWS, TRAIN_POOL, tmp / "worker-b", tmp / "worker-b.log"),
            ):
                yield state, webhook
    webhook.shutdown()


def champion_versions(mlflow_url: str) -> tuple[str, str]:
    """The champion churn and CLV versions in the shared MLflow server."""
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_url)
    return tuple(
        client.get_model_version_by_alias(name, "champion").version
        for name in ("lifeline-churn", "lifeline-clv")
    )


def scores_of(state: Rehearsal, as_of: dt.date) -> list[tuple]:
    """The scores for AS_OF, without the when/which-run columns a re-run may change."""
    return state.query(
        "SELECT customer_id, churn_probability, predicted_clv, risk_band, churn_model_version, "
        f"clv_model_version FROM ml.customer_scores WHERE as_of_date = DATE '{as_of}' ORDER BY 1"
    )


def report(state: Rehearsal, webhook: Webhook) -> str:
    """The rehearsal's summary: each simulated day's runs, then the alerts it received."""
    lines = ["Lifeline production rehearsal", ""]
    days = list(dict.fromkeys(f.day for f in state.fired))
    opened = [min(f.started for f in state.fired if f.day == day) for day in days]
    for i, day in enumerate(days):
        lines.append(day)
        for f in (f for f in state.fired if f.day == day):
            scored = "" if f.scored_rows is None else f", scored {f.scored_rows:,} rows"
            notes = f" [{'; '.join(f.notes)}]" if f.notes else ""
            message = f" ({f.message[:140]})" if f.state != "Completed" else ""
            lines.append(
                f"  {f.at}  {f.deployment:<15} {f.state:<10} {f.seconds:5.0f} s"
                f"{scored}{message}{notes}"
            )
        closes = opened[i + 1] if i + 1 < len(opened) else float("inf")
        alerts = [
            a.get("text", "").splitlines()[0]
            for a, t in zip(webhook.received, webhook.arrived, strict=True)
            if opened[i] <= t < closes
        ]
        lines.append(f"  alerts received: {len(alerts)}")
        lines += [f"    - {text}" for text in alerts]
    return "\n".join(lines)


def test_three_days_of_schedules_then_the_faults_an_operator_meets(rehearsal):
    state, webhook = rehearsal
    customers, history, daily = write_landing_files(state.tmp)
    state.land(customers, "customers/customers.parquet")
    state.land(history, "transactions/history.parquet")
    mlflow_url = state.job_env["LIFELINE_MLFLOW_TRACKING_URI"]
    retrained = None
    try:
        for day in DAYS:
            label = f"{day:%a} {day}"
            state.land(daily[day], f"transactions/{daily[day].name}")  # 00:30
            for when, name in day_schedule(state.deployments, day):
                fired = state.fire(label, f"{when:%H:%M}", name)
                assert fired.state == "Completed", (name, fired.message)
                if name == "weekly-retrain":
                    retrained = champion_versions(mlflow_url)
                    fired.notes.append(f"champion churn v{retrained[0]}, clv v{retrained[1]}")
                if name in ("daily-scoring", "weekly-retrain"):
                    rows = scores_of(state, day)
                    fired.scored_rows = len(rows)
                    assert rows, f"no scores for {day}"
                    # the model that scores is the champion the retrain registered
                    assert {r[4:] for r in rows} == {retrained}, (day, {r[4:] for r in rows})
                if name == "hourly-ingest" and when.hour == INGEST_HOURS[0] and day != DAYS[0]:
                    loaded = state.query(
                        "SELECT COUNT(*) FROM raw.load_manifest WHERE source_uri LIKE "
                        f"'%{daily[day].name}' AND status = 'loaded'"
                    )[0][0]
                    assert loaded == 1, f"{daily[day].name} not loaded by the morning ingest"
        assert retrained is not None and len(DAYS) >= 3
        assert not webhook.received, f"alerts on clean days: {webhook.received}"
        assert {
            d for (d,) in state.query("SELECT DISTINCT as_of_date FROM ml.customer_scores")
        } >= set(DAYS)

        # Re-running the last day changes nothing: same rows, same scores, same manifest.
        last = DAYS[-1]
        counts_sql = (
            "SELECT (SELECT COUNT(*) FROM raw.transactions), (SELECT COUNT(*) FROM "
            "raw.load_manifest), (SELECT COUNT(*) FROM features.customer_features), "
            "(SELECT COUNT(*) FROM ml.customer_scores)"
        )
        before, scores_before = state.query(counts_sql), scores_of(state, last)
        for when, name in day_schedule(state.deployments, last):
            if name != "weekly-retrain" and (name, when.hour) != ("hourly-ingest", 6):
                fired = state.fire(f"re-run {last}", f"{when:%H:%M}", name)
                assert fired.state == "Completed", (name, fired.message)
        assert state.query(counts_sql) == before
        assert scores_of(state, last) == scores_before

        # Thursday: a retrain started by hand is still running when the hourly ingest and the
        # features fire. The ingest is configured to fail fast, the features to wait.
        faults = "Thu faults"
        retrain_started = time.monotonic()
        # Held for a minute once its features are staged (under the publish lock), so the
        # ingest meets the lock whatever the machine's speed.
        retrain = state.start(
            "weekly-retrain", LIFELINE_FAILPOINT="features.after_staging:sleep=60"
        )
        wait_running(retrain.id)
        lock = state.warehouse.parent / "locks" / "publish.lock"
        deadline = time.monotonic() + 300
        while not lock.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        ingest = state.start("hourly-ingest", LIFELINE_LOCK_WAIT_S="0")
        features = state.start("daily-features", LIFELINE_LOCK_WAIT_S="900")
        busy = state.finish(faults, "05:15", "hourly-ingest", ingest)
        assert busy.state == "Failed" and "nothing was written" in busy.message, busy.message
        busy.notes.append("the retrain held the lock: failed fast (LIFELINE_LOCK_WAIT_S=0)")
        done = state.finish(faults, "04:00", "weekly-retrain", retrain, retrain_started)
        assert done.state == "Completed", done.message
        waited = state.finish(faults, "05:30", "daily-features", features)
        assert waited.state == "Completed", waited.message
        # it was running before the retrain ended, and published after: it waited
        assert read_run(features.id).start_time < read_run(retrain.id).end_time
        waited.notes.append("the retrain held the lock: waited (LIFELINE_LOCK_WAIT_S=900)")
        webhook.wait_for("ended Failed", "another Lifeline run")

        # A file that fails the raw gate: rejected whole, the operator removes it, all clear.
        bad = state.tmp / "bad.csv"
        bad.write_text(
            "transaction_id,customer_id,txn_ts,amount\nBAD1,C1,1850-01-01 10:00:00,12.5\n"
        )
        state.land(bad, "transactions/bad.csv")
        rows_before = state.query("SELECT COUNT(*) FROM raw.transactions")
        rejected = state.fire(faults, "06:15", "hourly-ingest")
        assert rejected.state == "Failed" and "bad.csv" in rejected.message, rejected.message
        assert state.query("SELECT COUNT(*) FROM raw.transactions") == rows_before
        webhook.wait_for("quality gate raw_transactions failed")
        webhook.wait_for("ended Failed", "bad.csv")
        state.s3().delete_object(Bucket=BUCKET, Key="landing/transactions/bad.csv")
        cleared = state.fire(faults, "07:15", "hourly-ingest")
        assert cleared.state == "Completed", cleared.message

        # Drift above a (deliberately tiny) threshold: the drift event and the failed run.
        drifted = state.fire(faults, "06:30", "daily-drift", {"drift_threshold": 0.0001})
        assert drifted.state == "Failed" and "drift at" in drifted.message, drifted.message
        assert "PSI above 0.0001" in webhook.wait_for("drift on warehouse.local")
        webhook.wait_for("ended Failed", "drift at")
    finally:
        summary = report(state, webhook)
        print(summary)
        if os.environ.get("LIFELINE_REHEARSAL_REPORT"):
            Path(os.environ["LIFELINE_REHEARSAL_REPORT"]).write_text(summary + "\n")
