"""`lifeline`: a thin Typer layer over the flows. Bad input -> one line on stderr, exit 2."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from flows.terminal import (
    log_path,
    logged_to,
    progress_display,
    quiet_environment,
    wants_progress,
)
from tasks.params import DEFAULTS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Churn and CLV pipelines: Prefect flows over DuckDB or Snowflake.",
)

HOME = typer.Option(None, "--home", help="Data folder (default $LIFELINE_HOME or .lifeline).")
AS_OF = typer.Option(None, "--as-of", help="Cut-off date YYYY-MM-DD: only data before it.")
HORIZON = typer.Option(DEFAULTS.horizon_days, "--horizon-days", help="Label horizon in days.")
TRAINER = typer.Option(DEFAULTS.trainer, "--trainer", help="local | snowpark | sagemaker.")
COLUMN = typer.Option(None, "--column", help="ROLE=NAME column mapping (repeatable).")
MAPPING = typer.Option(None, "--mapping", help="YAML file of ROLE: NAME column mappings.")
DATE_FORMAT = typer.Option(None, "--date-format", help="Snowflake format, e.g. YYYYMMDD.")
ORDER_LINES = typer.Option(
    False, "--order-lines", help="Rows are order lines: sum rows sharing a transaction id."
)


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def check_local_source(source: str) -> None:
    """Fail at once, before Prefect starts, when a local source has no files or an unknown kind."""
    if source == "synthetic" or "://" in source:
        return  # object stores are listed inside the flow, with its retries
    from tasks.ingest import IngestError, file_kind, split_portfolio

    try:
        customers, transactions = split_portfolio(source)
        for path in [*customers, *transactions]:
            file_kind(path)
    except IngestError as exc:
        fail(str(exc))


def use_home(home: Path | None) -> None:
    """Make --home visible to the flows (they read settings from the environment)."""
    if home is not None:
        os.environ["LIFELINE_HOME"] = str(home)


def parse_date(value: str | None) -> dt.date | None:
    """YYYY-MM-DD or None."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"--as-of must be a date like 2025-06-30, got {value!r}")


def check_trainer(name: str) -> str:
    """Reject unknown trainers before anything runs."""
    from tasks.trainers import TRAINERS

    if name not in TRAINERS:
        fail(f"--trainer must be one of {', '.join(TRAINERS)}, got {name!r}")
    return name


def parse_columns(pairs: list[str] | None, mapping_file: Path | None) -> dict[str, str]:
    """Merge --mapping FILE and --column ROLE=NAME pairs (pairs win)."""
    import yaml

    from tasks.ingest import IngestError, parse_mapping

    mapping: dict[str, str] = {}
    if mapping_file is not None:
        if not mapping_file.is_file():
            fail(f"--mapping file not found: {mapping_file}")
        loaded = yaml.safe_load(mapping_file.read_text()) or {}
        if not isinstance(loaded, dict):
            fail(f"--mapping {mapping_file} must be a YAML mapping of role: column")
        mapping |= {str(k): str(v) for k, v in loaded.items()}
    for pair in pairs or []:
        role, sep, name = pair.partition("=")
        if not sep or not name:
            fail(f"--column takes ROLE=NAME, got {pair!r}")
        mapping[role] = name
    try:
        return parse_mapping(mapping)
    except IngestError as exc:
        fail(str(exc))


def make_params(model: Any, **values: Any) -> Any:
    """Build a flow's parameter model; a rejected value becomes one line, exit 2."""
    from pydantic import ValidationError

    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "parameters"
        fail(f"{where}: {err['msg']} (got {err.get('input')!r})")


def input_errors() -> tuple[type[BaseException], ...]:
    """Errors that mean bad input or setup (exit 2), not a failed stage (exit 1)."""
    from tasks.errors import ConfigurationError
    from tasks.identifiers import UnsafeIdentifierError
    from tasks.ingest.errors import IngestError
    from tasks.policy import PolicyError

    return (ConfigurationError, IngestError, PolicyError, UnsafeIdentifierError)


def describe_error(exc: BaseException) -> str:
    """The first line of an error; our own errors already speak the user's words."""
    from tasks.errors import first_line

    first = first_line(exc)
    if type(exc).__module__.split(".")[0] in ("tasks", "flows") and first:
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def run_flow(flow_fn: Any, params: Any) -> Any:
    """Run a flow, logging to a file; any failure is one line on stderr and exit code 1."""
    from tasks.settings import load_settings

    path = log_path(load_settings().home_dir, flow_fn.name)
    shown = progress_display() if wants_progress() else nullcontext()
    with logged_to(path), shown:
        try:
            return flow_fn(**params.model_dump())
        except Exception as exc:  # the log file, the flow's state and its logs keep the trace
            logging.getLogger("lifeline").exception("%s failed", flow_fn.name)
            message = f"{describe_error(exc)} (log: {path})"
            code = 2 if isinstance(exc, input_errors()) else 1
    fail(message, code=code)  # outside the except block: the exit carries no traceback


def gate_line(gates: dict[str, str]) -> str:
    """The gates that ran and their verdicts, grouped by verdict."""
    by_verdict: dict[str, list[str]] = {}
    for suite, verdict in gates.items():
        by_verdict.setdefault(verdict, []).append(suite)
    return "; ".join(f"{', '.join(s)}: {v}" for v, s in by_verdict.items()) or "none ran"


def print_summary(result: dict[str, Any]) -> None:
    """A short human summary of a pipeline run: what really happened."""
    counts, m = result.get("counts", {}), result.get("metrics", {})
    lines = [
        f"Lifeline run {result.get('run_id')} as of {result.get('as_of')}",
        f"  ingested      {counts.get('rows_ingested', 0):,} new rows "
        f"({counts.get('files_loaded', 0)} files, {counts.get('files_skipped', 0)} already loaded);"
        f" RAW.TRANSACTIONS has {counts.get('raw_transactions', 0):,}",
        f"  features      {counts.get('feature_rows', 0):,} rows, "
        f"{counts.get('label_rows', 0):,} labels (version {counts.get('feature_version')})",
        f"  quality gates {gate_line(result.get('gates', {}))}",
    ]
    if m:
        churn = [k[6:-8] for k in m if k.startswith("churn_") and k.endswith("_roc_auc")]
        clv = [k[4:-5] for k in m if k.startswith("clv_") and k.endswith("_rmse")]
        skip = {"", "baseline"}
        lines.append(
            "  churn holdout ROC AUC / ECE  "
            + ", ".join(
                f"{c} {m[f'churn_{c}_roc_auc']:.3f}/{m[f'churn_{c}_ece']:.3f}"
                for c in churn
                if c not in skip
            )
        )
        lines.append(
            "  CLV holdout RMSE / Spearman  "
            + ", ".join(
                f"{c} {m[f'clv_{c}_rmse']:,.1f}/{m[f'clv_{c}_spearman']:.3f}"
                for c in clv
                if c not in skip
            )
        )
        lines += [f"  serving       {line}" for line in result.get("serving", [])]
        for d in result.get("promotion", []):
            lines.append(
                f"  registry      {d['model']} v{d['version']}: "
                f"{'champion' if d['promoted'] else 'challenger'} ({d['reason']})"
            )
    lines += [
        f"  scored        {counts.get('rows_scored', 0):,} customers, bands "
        f"{counts.get('risk_bands', {})}",
        f"  drift         {', '.join(result.get('drifted') or []) or 'no feature'} over PSI "
        f"{result.get('drift_threshold')}",
        f"  warehouse     {result.get('warehouse')} (dashboards read ML.CUSTOMER_360)",
        f"  step seconds  {json.dumps(result.get('seconds', {}))}",
    ]
    lines += [f"  warning       {w}" for w in result.get("warnings", [])]
    lines += next_steps()
    typer.echo("\n".join(lines))


def next_steps() -> list[str]:
    """The three things a user can do after a run, with this home's paths."""
    from prefect.settings import PREFECT_API_URL

    from tasks.settings import load_settings

    settings = load_settings()
    home = f" --home {settings.home}" if os.environ.get("LIFELINE_HOME") else ""
    api = PREFECT_API_URL.value()
    runs = (
        f"open {api.removesuffix('/').removesuffix('/api')}/runs"
        if api
        else ".venv/bin/prefect server start, then open http://127.0.0.1:4200/runs"
    )
    models = (
        f"open {settings.tracking_uri}"
        if settings.tracking_uri.startswith("http")
        else f".venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}, "
        "then open http://127.0.0.1:5000"
    )
    return [
        "Next:",
        f"  runs     {runs}",
        f"  models   {models}",
        f"  your log .venv/bin/lifeline run{home} --source FILE --column customer_id=ID "
        "--column txn_ts=DATE --column amount=AMOUNT",
    ]


@app.command()
def run(
    source: str = typer.Option("synthetic", "--source", help="'synthetic' or a path/URI."),
    column: list[str] = COLUMN,
    mapping: Path = MAPPING,
    date_format: str = DATE_FORMAT,
    order_lines: bool = ORDER_LINES,
    as_of: str = AS_OF,
    horizon_days: int = HORIZON,
    trainer: str = TRAINER,
    customers: int = typer.Option(DEFAULTS.customers, "--customers", help="Synthetic customers."),
    transactions: int = typer.Option(
        DEFAULTS.transactions, "--transactions", help="Synthetic transactions."
    ),
    seed: int = typer.Option(DEFAULTS.seed, "--seed"),
    home: Path = HOME,
) -> None:
    """Run the whole pipeline end to end."""
    cut_off, name = parse_date(as_of), check_trainer(trainer)
    columns = parse_columns(column, mapping)
    from tasks.params import PipelineParams

    params = make_params(
        PipelineParams,
        source=source,
        as_of=cut_off,
        horizon_days=horizon_days,
        trainer=name,
        columns=columns or None,
        date_format=date_format,
        order_lines=order_lines,
        customers=customers,
        transactions=transactions,
        seed=seed,
    )
    check_local_source(source)
    use_home(home)
    from flows.pipeline import customer_ml_pipeline

    print_summary(run_flow(customer_ml_pipeline, params))


@app.command()
def generate(
    customers: int = typer.Option(..., "--customers"),
    transactions: int = typer.Option(None, "--transactions", help="Default: 100 per customer."),
    seed: int = typer.Option(7, "--seed"),
    out: Path = typer.Option(..., "--out", help="Output folder."),
) -> None:
    """Write a synthetic portfolio (customers/ and transactions/ Parquet) to OUT."""
    from tasks.synthetic import generate_portfolio

    try:
        result = generate_portfolio(out, customers, transactions or customers * 100, seed)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(
        f"wrote {result.customers:,} customers and {result.transactions:,} transactions "
        f"({result.start} .. {result.end}) to {out}"
    )


@app.command("ingest")
def ingest_cmd(
    source: str = typer.Argument(..., help="File, folder or glob; local or s3://."),
    column: list[str] = COLUMN,
    mapping: Path = MAPPING,
    date_format: str = DATE_FORMAT,
    order_lines: bool = ORDER_LINES,
    home: Path = HOME,
) -> None:
    """Load a transaction log (and customers/ when SOURCE is a portfolio folder)."""
    from tasks.params import IngestParams

    params = make_params(
        IngestParams,
        source=source,
        columns=parse_columns(column, mapping) or None,
        date_format=date_format,
        order_lines=order_lines,
    )
    check_local_source(source)
    use_home(home)
    from flows.ingest import ingest_flow

    counts = run_flow(ingest_flow, params)
    typer.echo(
        f"ingested {counts['rows_ingested']:,} rows from {counts['files_loaded']} files "
        f"({counts['files_skipped']} already loaded); RAW.TRANSACTIONS has "
        f"{counts['raw_transactions']:,} rows"
    )
    for warning in counts.get("warnings", []):
        typer.echo(f"  warning  {warning}")


@app.command()
def features(as_of: str = AS_OF, horizon_days: int = HORIZON, home: Path = HOME) -> None:
    """Build point-in-time features and labels."""
    from tasks.params import FeatureParams

    params = make_params(FeatureParams, as_of=parse_date(as_of), horizon_days=horizon_days)
    use_home(home)
    from flows.features import features_flow

    counts = run_flow(features_flow, params)
    typer.echo(f"features: {counts['feature_rows']:,} rows, labels: {counts['label_rows']:,}")


@app.command()
def train(
    as_of: str = AS_OF, trainer: str = TRAINER, horizon_days: int = HORIZON, home: Path = HOME
) -> None:
    """Train, register and (maybe) promote the churn and CLV models."""
    from tasks.params import TrainParams

    params = make_params(
        TrainParams,
        as_of=parse_date(as_of),
        trainer=check_trainer(trainer),
        horizon_days=horizon_days,
    )
    use_home(home)
    from flows.train import train_flow

    result = run_flow(train_flow, params)
    typer.echo(
        json.dumps(
            {"metrics": result["metrics"], "promotion": result["promotion"]}, indent=2, default=str
        )
    )


@app.command()
def score(as_of: str = AS_OF, home: Path = HOME) -> None:
    """Score the active customers with the champion models."""
    from tasks.params import ScoreParams

    params = make_params(ScoreParams, as_of=parse_date(as_of))
    use_home(home)
    from flows.score import score_flow

    counts = run_flow(score_flow, params)
    typer.echo(f"scored {counts['rows_scored']:,} customers; bands {counts['risk_bands']}")


@app.command()
def drift(as_of: str = AS_OF, home: Path = HOME) -> None:
    """Population stability of features and scores vs the champion's training data."""
    from tasks.params import DriftParams

    params = make_params(DriftParams, as_of=parse_date(as_of))
    use_home(home)
    from flows.monitor import drift_flow

    result = run_flow(drift_flow, params)
    typer.echo(
        f"drifted features (PSI > {result['threshold']}): {', '.join(result['drifted']) or 'none'}"
    )


@app.command()
def blocks(env: str = typer.Option("dev", "--env", help="dev or prod")) -> None:
    """Create the Prefect blocks (Snowflake key pair, AWS, S3) from environment variables."""
    from tasks.blocks import create_blocks

    try:
        names = create_blocks(env)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(
        f"saved blocks {names.snowflake_connector}, {names.snowflake_credentials}, "
        f"{names.aws_credentials}, {names.results_bucket}"
    )


@app.command()
def automations(
    prefix: str = typer.Option("lifeline", "--prefix", help="Name prefix, e.g. lifeline-prod."),
) -> None:
    """Create the alert automations (failed run, drift, quality gate) and their webhook block."""
    from tasks.alerts import create_automations

    try:
        names = create_automations(prefix)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"automations: {', '.join(names)} -> block {prefix}-alerts")


@app.command()
def dashboard(
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port to serve on."),
    home: Path = HOME,
) -> None:
    """Serve the dashboard (portfolio, customer 360, segments, campaign ROI, model health)."""
    import subprocess
    import sys

    use_home(home)
    # a Streamlit script beside the packages (ARCHITECTURE: dashboard/), run from a checkout
    app_path = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    if not app_path.is_file():
        fail(f"the dashboard app is not in this install ({app_path}): run it from a checkout")
    typer.echo(f"dashboard: http://localhost:{port} (Ctrl+C stops it)")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",  # no telemetry from the dashboard
    ]
    try:
        raise SystemExit(subprocess.call(command))
    except KeyboardInterrupt:
        raise SystemExit(0) from None


@app.command()
def doctor(
    trainer: str = typer.Option(DEFAULTS.trainer, "--trainer", help="The trainer to check."),
    home: Path = HOME,
) -> None:
    """Check settings, policy, warehouse, trainer, S3, MLflow and Prefect; one line each."""
    use_home(home)
    from tasks.doctor import failure_line, run_checks

    checks = run_checks(check_trainer(trainer))
    typer.echo("\n".join(c.line() for c in checks))
    line = failure_line(checks)
    if line is not None:
        fail(line, code=1)


@app.command()
def evaluate(
    as_of: str = typer.Option(..., "--as-of", help="The scored cut-off, YYYY-MM-DD."),
    horizon_days: int = HORIZON,
    home: Path = HOME,
) -> None:
    """Back-test: the scores at AS_OF and every baseline against what customers then did."""
    cut_off = parse_date(as_of)
    use_home(home)
    from tasks.evaluation import evaluate_scores, evaluation_text
    from tasks.settings import load_settings
    from tasks.warehouse import open_warehouse

    with open_warehouse(load_settings()) as wh:
        try:
            report = evaluate_scores(wh, cut_off, horizon_days)
        except ValueError as exc:
            fail(str(exc), code=1)
    typer.echo(evaluation_text(report))


@app.command()
def journey(
    as_of: str = typer.Option("2017-10-02", "--as-of", help="Cut-off, YYYY-MM-DD."),
    horizon_days: int = HORIZON,
    home: Path = HOME,
) -> None:
    """Run the pipeline on the real Complete Journey log, then back-test it after AS_OF."""
    from tasks import journey as cj
    from tasks.params import PipelineParams

    use_home(home)
    from tasks.settings import load_settings

    log = cj.journey_log(load_settings().home_dir / "downloads")
    params = make_params(
        PipelineParams,
        source=str(log),
        columns=cj.MAPPING,
        order_lines=True,
        as_of=parse_date(as_of),
        horizon_days=horizon_days,
    )
    from flows.pipeline import customer_ml_pipeline

    print_summary(run_flow(customer_ml_pipeline, params))
    evaluate(as_of=as_of, horizon_days=horizon_days, home=home)


@app.command()
def bench(
    customers: int = typer.Option(5000, "--customers"),
    transactions: int = typer.Option(1_000_000, "--transactions"),
    snapshots: int = typer.Option(12, "--snapshots", help="Cut-offs incl. score and holdout."),
    home: Path = HOME,
    pandas_limit: int = typer.Option(
        20_000_000, "--pandas-limit", help="Skip the pandas reference above this many rows."
    ),
    seed: int = typer.Option(DEFAULTS.seed, "--seed"),
    horizon_days: int = HORIZON,
) -> None:
    """Benchmark every stage on a fresh synthetic portfolio; print one JSON document."""
    if customers < 1 or transactions < 1 or snapshots < 3:
        fail("--customers and --transactions must be >= 1 and --snapshots >= 3")
    from tasks.bench import run_bench

    result = run_bench(customers, transactions, snapshots, home, pandas_limit, seed, horizon_days)
    typer.echo(json.dumps(result, indent=2))


@app.callback()
def calm() -> None:
    """Churn and CLV pipelines: Prefect flows over DuckDB or Snowflake."""
    quiet_environment()  # before any command imports Prefect or MLflow


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())
