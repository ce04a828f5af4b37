"""Quality gates: GX Core suites evaluated as SQL aggregates inside the warehouse.

Suites are GX 1.x ExpectationSuite JSON in expectations/ (tests load them with GX and check
that GX on pandas reaches the same verdicts). At run time each suite becomes one SQL query,
so 60 M raw rows are checked in a single pass where they live, on DuckDB and Snowflake alike.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.alerts import GATE_EVENT, emit_alert_event
from tasks.artifacts import publish_markdown
from tasks.identifiers import quote_identifier
from tasks.warehouse import Warehouse

EXPECTATIONS_DIR = Path(__file__).resolve().parents[1] / "expectations"
# A suite that loads with fewer checks than this was truncated or mis-edited: refuse it.
MIN_EXPECTATIONS = {
    "raw_transactions": 8,
    "customer_features": 7,
    "training_labels": 5,
    "customer_scores": 6,
}
SUPPORTED = {
    "expect_table_row_count_to_be_between",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_mean_to_be_between",
}


class QualityGateError(RuntimeError):
    """A critical expectation failed; nothing downstream may be written."""

    def __init__(self, message: str, checks: str = "") -> None:
        super().__init__(message)
        self.checks = checks or message  # the failed checks alone, without suite and table


@dataclass
class ExpectationResult:
    """The verdict on one expectation."""

    type: str
    column: str | None
    success: bool
    severity: str
    observed: Any = None
    unexpected_count: int = 0
    examples: list = field(default_factory=list)

    @property
    def label(self) -> str:
        """A short human name, e.g. expect_column_values_to_not_be_null(CUSTOMER_ID)."""
        return f"{self.type}({self.column})" if self.column else self.type


@dataclass
class SuiteResult:
    """The verdict on one suite over one dataset."""

    suite: str
    dataset: str
    results: list[ExpectationResult]
    extra: dict[str, Any] = field(default_factory=dict)  # the caller's aggregates, by name

    @property
    def failed(self) -> list[ExpectationResult]:
        """Failed expectations of any severity."""
        return [r for r in self.results if not r.success]

    @property
    def blocking(self) -> list[ExpectationResult]:
        """Failed critical expectations: these stop the flow."""
        return [r for r in self.failed if r.severity == "critical"]

    @property
    def success(self) -> bool:
        """True when no critical expectation failed."""
        return not self.blocking


def load_suite(name: str) -> dict:
    """Read expectations/NAME.json; an empty or unsupported suite is refused."""
    suite = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    expectations = suite.get("expectations") or []
    if not expectations:
        raise QualityGateError(f"suite {name} has no expectations: refusing to pass it")
    if len(expectations) < MIN_EXPECTATIONS.get(name, 1):
        raise QualityGateError(
            f"suite {name} has {len(expectations)} expectations, expected at least "
            f"{MIN_EXPECTATIONS[name]}: refusing a gate that lost checks"
        )
    unknown = {e["type"] for e in expectations} - SUPPORTED
    if unknown:
        raise QualityGateError(f"suite {name} uses unsupported expectations: {sorted(unknown)}")
    return suite


def resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """Replace a GX {"$PARAMETER": name} reference with its run-time value."""
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise QualityGateError(f"suite parameter {name!r} was not supplied")
        return parameters[name]
    return value


def aggregate_sql(expectation: dict, index: int, params: dict, parameters: dict) -> str:
    """The SQL aggregate for one expectation (its unexpected count or observed value)."""
    kw = {k: resolve(v, parameters) for k, v in expectation["kwargs"].items()}
    kind = expectation["type"]
    col = quote_identifier(kw["column"], 1) if "column" in kw else None
    if kind == "expect_table_row_count_to_be_between":
        return "COUNT(*)"
    predicate = violation_sql(expectation, index, params, parameters)
    if predicate:
        return f"SUM(IFF({predicate}, 1, 0))"
    if kind == "expect_column_values_to_be_unique":
        # 64-bit hashes are much cheaper to count than strings; a collision only makes this
        # over-report, and evaluate_suite then re-counts exactly.
        return f"COUNT({col}) - COUNT(DISTINCT HASH({col}))"
    if kind == "expect_column_mean_to_be_between":
        return f"AVG(CAST({col} AS DOUBLE))"
    raise QualityGateError(f"no SQL for {kind}")


def violation_sql(expectation: dict, index: int, params: dict, parameters: dict) -> str | None:
    """The row predicate a column-map expectation counts as unexpected (None if not a map)."""
    kw = {k: resolve(v, parameters) for k, v in expectation["kwargs"].items()}
    kind = expectation["type"]
    col = quote_identifier(kw["column"], 1) if "column" in kw else None
    if kind == "expect_column_values_to_not_be_null":
        return f"{col} IS NULL"
    if kind == "expect_column_values_to_be_between":
        tests = []
        for bound, op in (("min_value", "<"), ("max_value", ">")):
            if kw.get(bound) is not None:
                params[f"q{index}_{bound}"] = kw[bound]
                cast = "TIMESTAMP_NTZ" if isinstance(kw[bound], str) else "DOUBLE"
                tests.append(f"{col} {op} CAST(:q{index}_{bound} AS {cast})")
        return f"{col} IS NOT NULL AND ({' OR '.join(tests) or 'FALSE'})"
    if kind == "expect_column_values_to_be_in_set":
        names = []
        for j, value in enumerate(kw["value_set"]):
            params[f"q{index}_v{j}"] = value
            names.append(f":q{index}_v{j}")
        return f"{col} IS NOT NULL AND {col} NOT IN ({', '.join(names)})"
    return None


def judge(expectation: dict, observed: Any, rows: int, non_null: int, params: dict) -> bool:
    """Apply GX's success rule to the aggregated value."""
    kw = {k: resolve(v, params) for k, v in expectation["kwargs"].items()}
    kind = expectation["type"]
    if kind in ("expect_table_row_count_to_be_between", "expect_column_mean_to_be_between"):
        if observed is None or pd.isna(observed):
            return False
        low, high = kw.get("min_value"), kw.get("max_value")
        return (low is None or observed >= low) and (high is None or observed <= high)
    unexpected = int(observed or 0)
    denominator = rows if kind == "expect_column_values_to_not_be_null" else non_null
    if kind in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        return unexpected == 0
    mostly = kw.get("mostly", 1.0)
    return denominator == 0 or (denominator - unexpected) / denominator >= mostly


def evaluate_suite(
    wh: Warehouse,
    suite_name: str,
    table: str,
    parameters: dict | None = None,
    extra: Mapping[str, str] | None = None,
    extra_params: Mapping[str, Any] | None = None,
    unique: Collection[str] = (),
) -> SuiteResult:
    """Run every expectation of a suite against TABLE in one warehouse query.

    EXTRA names more aggregates (SQL, binds in EXTRA_PARAMS) for the same pass over TABLE;
    their values come back in the result's `extra`. UNIQUE names columns the caller has
    already proven unique: their uniqueness expectation observes 0 without a count.
    """
    suite, parameters = load_suite(suite_name), parameters or {}
    proven = {c.upper() for c in unique}
    types = wh.column_types(table)
    columns = set(types)
    target = quote_identifier(table)
    params: dict[str, Any] = dict(extra_params or {})
    selects, results, pending = ["COUNT(*) AS n_rows"], [], []
    for i, exp in enumerate(suite["expectations"]):
        kw = exp["kwargs"]
        needed = kw.get("column_list") or ([kw["column"]] if "column" in kw else [])
        missing = [c for c in needed if c.upper() not in columns]
        result = ExpectationResult(
            exp["type"],
            kw.get("column") or ",".join(needed) or None,
            False,
            exp.get("severity", "critical"),
        )
        results.append(result)
        if missing:
            result.observed = f"missing column(s) {missing}"
            continue
        if "value_set" in kw and resolve(kw["value_set"], parameters) is None:
            result.success, result.observed = True, "any value (the policy lists none)"
            continue
        wrong_type = mistyped(exp, types, parameters)
        if wrong_type:
            result.observed = wrong_type  # e.g. amounts that arrived as text
            continue
        if exp["type"] == "expect_column_values_to_be_unique" and kw["column"].upper() in proven:
            selects.append(f"0 AS q{i}")
        elif exp["type"] == "expect_compound_columns_to_be_unique":
            keys = ", ".join(quote_identifier(c, 1) for c in needed)
            selects.append(
                f"(SELECT COUNT(*) FROM (SELECT {keys} FROM {target} GROUP BY {keys} "
                f"HAVING COUNT(*) > 1) AS d) AS q{i}"
            )
        else:
            selects.append(f"{aggregate_sql(exp, i, params, parameters)} AS q{i}")
        if "column" in kw:
            selects.append(f"COUNT({quote_identifier(kw['column'], 1)}) AS nn{i}")
        pending.append((i, exp, result))
    selects += [f"{sql} AS x_{name}" for name, sql in (extra or {}).items()]
    row = wh.fetch_frame(f"SELECT {', '.join(selects)} FROM {target}", params).iloc[0]
    n_rows = int(row["N_ROWS"])
    for i, exp, result in pending:
        observed = row[f"Q{i}"]
        if pd.isna(observed):
            observed = None
        elif hasattr(observed, "item"):
            observed = observed.item()  # numpy scalar -> plain Python for JSON and messages
        non_null = int(row[f"NN{i}"]) if f"NN{i}" in row else n_rows
        if exp["type"] == "expect_column_values_to_be_unique" and observed:
            col = quote_identifier(exp["kwargs"]["column"], 1)
            observed = int(wh.scalar(f"SELECT COUNT({col}) - COUNT(DISTINCT {col}) FROM {target}"))
        result.observed = observed
        result.success = bool(judge(exp, observed, n_rows, non_null, parameters))
        if "column" in exp["kwargs"] and exp["type"] not in ("expect_column_mean_to_be_between",):
            result.unexpected_count = int(observed or 0)
        if not result.success:
            result.examples = unexpected_rows(wh, suite, exp, i, target, columns, parameters)
    values = {name: row[f"X_{name.upper()}"] for name in extra or {}}
    return SuiteResult(suite_name, table, results, values)


def mistyped(expectation: dict, types: dict[str, str], parameters: dict) -> str | None:
    """Why a range check cannot apply to its column's type (None when it can)."""
    kw = {k: resolve(v, parameters) for k, v in expectation["kwargs"].items()}
    if expectation["type"] not in (
        "expect_column_values_to_be_between",
        "expect_column_mean_to_be_between",
    ):
        return None
    bound = kw.get("min_value", kw.get("max_value"))
    wanted = "datetime" if isinstance(bound, str) else "number"
    actual = types.get(kw["column"].upper())
    if actual is None or actual.startswith(wanted):
        return None
    return f"column {kw['column']} has type {actual}, expected {wanted}"


def unexpected_rows(
    wh: Warehouse,
    suite: dict,
    expectation: dict,
    index: int,
    target: str,
    columns: set[str],
    parameters: dict,
) -> list[dict]:
    """Up to 5 failing rows: the suite's index columns (GX's unexpected_index_list) and the
    checked column's own values, which are what a person recognises."""
    params: dict[str, Any] = {}
    predicate = violation_sql(expectation, index, params, parameters)
    index_cols = [c for c in suite.get("meta", {}).get("index_columns", []) if c in columns]
    checked = expectation.get("kwargs", {}).get("column")
    nulls = expectation["type"] == "expect_column_values_to_not_be_null"  # nothing to show
    if checked in columns and checked not in index_cols and not nulls:
        index_cols.append(checked)
    if not predicate or not index_cols:
        return []
    keys = ", ".join(quote_identifier(c, 1) for c in index_cols)
    rows = wh.fetch_frame(f"SELECT {keys} FROM {target} WHERE {predicate} LIMIT 5", params)
    return rows.astype(str).to_dict("records")


def describe_failure(r: ExpectationResult) -> str:
    """One failed check: its name, how many rows, and example values of its column."""
    # The checked column's values when they mean something (not for nulls), else the rows' ids.
    key = r.column if any(r.column in e for e in r.examples) else None
    if key is None and r.examples:
        key = next(iter(r.examples[0]), None)
    values = list(dict.fromkeys(e[key] for e in r.examples if key in e))
    if r.unexpected_count and values:
        shown = ", ".join(repr(v) for v in values[:3])
        return f"{r.label}: {r.unexpected_count:,} row(s), e.g. {key}={shown}"
    if r.unexpected_count:
        return f"{r.label}: {r.unexpected_count:,} row(s)"
    return f"{r.label}: observed {r.observed!r}"


def failure_summary(result: SuiteResult, blocking_only: bool = False) -> str:
    """Each failed expectation with how many rows and example values, on one line."""
    failed = result.blocking if blocking_only else result.failed
    return "; ".join(describe_failure(r) for r in failed)


def failure_message(result: SuiteResult) -> str:
    """One readable line naming each blocking expectation and what was observed."""
    summary = failure_summary(result, blocking_only=True)
    return f"quality gate {result.suite} failed on {result.dataset}: {summary}"


def record_result(wh: Warehouse, result: SuiteResult, run_id: str) -> None:
    """Append the verdict to OPS.QUALITY_RESULTS (one row per run and suite)."""
    failed = result.failed
    frame = pd.DataFrame(
        [
            {
                "FLOW_RUN_ID": run_id,
                "SUITE_NAME": result.suite,
                "DATASET": result.dataset,
                "SUCCESS": result.success,
                "SEVERITY": "critical" if result.blocking else ("warning" if failed else "none"),
                "EVALUATED_EXPECTATIONS": len(result.results),
                "FAILED_EXPECTATIONS": len(failed),
                "FAILED_NAMES": ", ".join(r.label for r in failed),
                "UNEXPECTED_EXAMPLES": json.dumps(
                    {r.label: str(r.observed) for r in failed}, default=str
                ),
                "VALIDATED_AT": pd.Timestamp.now("UTC").tz_localize(None),
            }
        ]
    )
    wh.write_frame(frame, "OPS.QUALITY_RESULTS", "append")


def result_markdown(result: SuiteResult) -> str:
    """A markdown table of the suite's verdicts, for a Prefect artifact."""
    lines = [
        f"### Quality gate `{result.suite}` on `{result.dataset}`: "
        + ("passed" if result.success else "**FAILED**"),
        "",
        "| expectation | severity | success | observed |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r.label} | {r.severity} | {'yes' if r.success else 'NO'} | {r.observed} |"
        for r in result.results
    ]
    return "\n".join(lines)


def validate_dataset(
    wh: Warehouse, suite: str, table: str, run_id: str, parameters: dict | None = None
) -> SuiteResult:
    """Run a suite, record it in OPS.QUALITY_RESULTS and as an artifact; raise on failure.

    Raises:
        QualityGateError: naming each failed critical expectation.
    """
    return enforce_result(wh, evaluate_suite(wh, suite, table, parameters), run_id)


def enforce_result(wh: Warehouse, result: SuiteResult, run_id: str) -> SuiteResult:
    """Record an evaluated suite in OPS.QUALITY_RESULTS and as an artifact; raise on failure.

    Raises:
        QualityGateError: naming each failed critical expectation.
    """
    record_result(wh, result, run_id)
    publish_markdown(f"quality-{result.suite.replace('_', '-')}", result_markdown(result))
    if not result.success:
        summary = failure_summary(result, True)
        emit_alert_event(
            GATE_EVENT,
            f"dataset.{result.suite}",
            {"suite": result.suite, "table": result.dataset, "run_id": run_id, "checks": summary},
        )
        raise QualityGateError(failure_message(result), summary)
    return result
