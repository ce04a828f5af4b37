"""`lifeline doctor`: is this machine set up for the chosen target? One line per check.

Each check is cheap (no data moves) and says how to fix what it finds, so a misconfigured
worker fails in one clear line instead of a stack trace in the middle of a run.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from tasks.errors import ConfigurationError, first_line


def error_text(exc: BaseException) -> str:
    """An error's first line for a check's verdict (its type when it has no message)."""
    return first_line(exc, 200) or type(exc).__name__


@dataclass
class Check:
    """The verdict on one piece of the setup."""

    name: str
    ok: bool
    detail: str
    hint: str = ""

    def line(self) -> str:
        """`ok   name  detail` or `FAIL name  detail; fix: hint`."""
        fix = f"; fix: {self.hint}" if not self.ok and self.hint else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name:<12} {self.detail}{fix}"


def probe(name: str, target: str, call: Callable[[], object], hint: str, ok: str) -> Check:
    """Check NAME by making CALL: any error is the verdict, shown on TARGET with the fix."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - credentials, network, permissions, missing objects
        return Check(name, False, f"{target}: {error_text(exc)}", hint)
    return Check(name, True, ok)


def check_settings() -> tuple[Check, object | None]:
    """The LIFELINE_ settings parse and validate."""
    from pydantic import ValidationError

    from tasks.settings import load_settings

    try:
        settings = load_settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "LIFELINE_" + "_".join(str(x) for x in err["loc"]).upper()
        return Check("settings", False, f"{where}: {err['msg']}", "correct that variable"), None
    return Check("settings", True, f"target {settings.target}, home {settings.home}"), settings


def check_policy(settings) -> Check:
    """The business policy file (or the defaults) validates."""
    from tasks.policy import PolicyError

    try:
        settings.load_policy()
    except PolicyError as exc:
        return Check("policy", False, str(exc), "edit the file; lifeline.toml lists every key")
    where = settings.policy_file or ("./lifeline.toml" if os.path.isfile("lifeline.toml") else "")
    return Check("policy", True, f"{where or 'defaults'} valid")


def check_warehouse(settings) -> Check:
    """The warehouse opens and answers; on Snowflake, as which role and database."""
    from tasks.guard import live_holder, local_lock_path
    from tasks.warehouse import open_warehouse

    holder = {} if settings.target == "snowflake" else live_holder(local_lock_path(settings))
    if holder:  # DuckDB admits one writer: the run waits for the lock (or fails) as configured
        return Check(
            "warehouse",
            True,
            f"in use by flow run {holder.get('run_id')}; a run waits up to "
            f"{settings.lock_wait_s:g} s for it (LIFELINE_LOCK_WAIT_S)",
        )
    from tasks.warehouse.duckdb import WarehouseBusyError

    try:
        with open_warehouse(settings) as wh:
            wh.scalar("SELECT COUNT(*) FROM raw.load_manifest")
            detail = wh.describe()
    except WarehouseBusyError:
        # Held without the publish lock: another run's own check or a dashboard read, for
        # seconds. The run opens the file under the lock and waits for it there.
        return Check("warehouse", True, "open in another process for a moment; a run waits")
    except ConfigurationError as exc:
        return Check("warehouse", False, str(exc), "set those variables (see README, Cloud)")
    except Exception as exc:  # noqa: BLE001 - any failure to connect is this check's verdict
        hint = (
            "check the account, user, key and that the role may USE the database and CREATE "
            "in its schemas (infra/snowflake grants)"
            if settings.target == "snowflake"
            else "another process may hold the DuckDB file; check LIFELINE_HOME"
        )
        return Check("warehouse", False, f"{type(exc).__name__}: {error_text(exc)}", hint)
    return Check("warehouse", True, detail)


def check_trainer(settings, trainer: str) -> Check:
    """The chosen trainer has its account, role and bucket."""
    from tasks.trainers import get_trainer

    try:
        get_trainer(trainer, settings).preflight()
    except ConfigurationError as exc:
        return Check("trainer", False, str(exc), "set those variables or use --trainer local")
    return Check("trainer", True, f"{trainer} ready")


def check_s3(settings) -> Check | None:
    """The S3 bucket (when one is configured) is reachable with these credentials."""
    if not settings.s3_bucket:
        return None
    import boto3

    bucket = f"s3://{settings.s3_bucket}"
    return probe(
        "s3",
        bucket,
        lambda: boto3.client("s3", region_name=settings.aws_region).head_bucket(
            Bucket=settings.s3_bucket
        ),
        "check AWS credentials and that the role may list and read the bucket",
        f"{bucket} reachable",
    )


def check_mlflow(settings) -> Check:
    """The MLflow tracking store: a server answers /health, or the sqlite folder is writable."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
                ok = response.status == 200
        except OSError as exc:
            return Check(
                "mlflow",
                False,
                f"{uri}: {error_text(exc)}",
                "start the tracking server or correct LIFELINE_MLFLOW_TRACKING_URI",
            )
        return Check("mlflow", ok, f"{uri} healthy" if ok else f"{uri} unhealthy")
    if uri.startswith("arn:aws:sagemaker:"):  # SageMaker managed MLflow (sagemaker-mlflow auth)
        return check_managed_mlflow(uri)
    if settings.target == "snowflake":  # deployed: workers on other machines share it
        return Check(
            "mlflow",
            False,
            f"{uri} is local to this machine: other workers will not see its champion",
            "set LIFELINE_MLFLOW_TRACKING_URI to the shared tracking server",
        )
    return Check("mlflow", True, f"{uri} (local)")


def check_managed_mlflow(arn: str) -> Check:
    """A SageMaker managed tracking server answers a cheap call with this machine's role."""
    from mlflow import MlflowClient

    return probe(
        "mlflow",
        arn,
        lambda: MlflowClient(tracking_uri=arn).search_experiments(max_results=1),
        "check AWS credentials and that the role may call sagemaker-mlflow:* on the server",
        f"{arn} answers",
    )


def check_prefect(settings) -> list[Check]:
    """The Prefect API answers; on Snowflake, the blocks and the publish limit exist."""
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()  # the environment, a profile, or a test harness
    if not api:
        local = Check("prefect", True, "temporary local API (deployments need PREFECT_API_URL)")
        if settings.target != "snowflake":
            return [local]
    from prefect.client.orchestration import get_client

    from tasks.guard import publish_limit_name

    checks = []
    try:
        with get_client(sync_client=True) as client:
            failure = client.api_healthcheck()
            if failure is not None:
                raise failure
            checks.append(Check("prefect", True, f"API {api or 'temporary local'} healthy"))
            if settings.target == "snowflake":
                checks.append(check_limit(client, publish_limit_name(settings.snowflake_database)))
                if settings.snowflake_connector_block:
                    checks.append(check_block(settings.snowflake_connector_block))
    except Exception as exc:  # noqa: BLE001 - an unreachable API is this check's verdict
        checks.append(
            Check(
                "prefect",
                False,
                f"{api}: {error_text(exc)}",
                "start the server or correct PREFECT_API_URL / PREFECT_API_KEY",
            )
        )
    return checks


def check_limit(client, name: str) -> Check:
    """The global concurrency limit that serialises Snowflake runs exists."""
    from prefect.exceptions import ObjectNotFound

    try:
        client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return Check("lock", False, f"concurrency limit {name} missing", "run `lifeline blocks`")
    return Check("lock", True, f"concurrency limit {name} exists")


def check_block(name: str) -> Check:
    """The SnowflakeConnector block the settings name exists."""
    from prefect_snowflake import SnowflakeConnector

    return probe(
        "blocks",
        name,
        lambda: SnowflakeConnector.load(name),
        "run `lifeline blocks`",
        f"SnowflakeConnector {name} loads",
    )


def run_checks(trainer: str = "local") -> list[Check]:
    """Every check for the configured target, in the order a fix would follow."""
    settings_check, settings = check_settings()
    if settings is None:
        return [settings_check]
    steps: list[Callable[[], Check | list[Check] | None]] = [
        lambda: check_policy(settings),
        lambda: check_warehouse(settings),
        lambda: check_trainer(settings, trainer),
        lambda: check_s3(settings),
        lambda: check_mlflow(settings),
        lambda: check_prefect(settings),
    ]
    checks = [settings_check]
    for step in steps:
        found = step()
        checks += found if isinstance(found, list) else [found] if found else []
    return checks


def failure_line(checks: list[Check]) -> str | None:
    """The first failed check with its fix, naming the others; None when all pass."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return None
    first = failed[0]
    fix = f"; fix: {first.hint}" if first.hint else ""
    more = f" (also failed: {', '.join(c.name for c in failed[1:])})" if failed[1:] else ""
    return f"doctor: {first.name}: {first.detail}{fix}{more}"


def require_setup(trainer: str = "local") -> None:
    """Raise ConfigurationError with the doctor's one line when any check fails."""
    line = failure_line(run_checks(trainer))
    if line is not None:
        raise ConfigurationError(line)
