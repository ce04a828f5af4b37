"""Flow parameters: one pydantic model per step, composed into the pipeline's; defaults live here.

Flows keep flat signatures (Prefect merges deployment and run parameters key by key, so a
nested model would drop a deployment's values when a run overrides one field); each flow
parameter is typed with the alias below and defaults to `DEFAULTS`, so constraints,
descriptions (the Prefect UI form) and default values are each written once. The CLI builds
these models from its options, and each run records its whole model in OPS.PIPELINE_RUNS.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

F = TypeVar("F", bound=Callable[..., Any])
TrainerName = Literal["local", "snowpark", "sagemaker"]

Source = Annotated[
    str, Field(description="'synthetic', or a file, folder or glob (local or s3://).")
]
Columns = Annotated[
    dict[str, str] | None,
    Field(description="Column roles to source names, e.g. {'txn_ts': 'date'}."),
]
DateFormat = Annotated[
    str | None, Field(description="Snowflake format of text timestamps, e.g. YYYYMMDD.")
]
OrderLines = Annotated[
    bool,
    Field(description="Rows are order lines: sum the rows sharing a transaction id (basket)."),
]
Customers = Annotated[int, Field(ge=1, description="Synthetic source only: customers.")]
Transactions = Annotated[int, Field(ge=1, description="Synthetic source only: transactions.")]
Seed = Annotated[int, Field(description="Synthetic source only: random seed.")]
AsOf = Annotated[
    dt.date | None,
    Field(description="Cut-off date: only data before it is used (default: the latest data)."),
]
HorizonDays = Annotated[int, Field(ge=7, le=730, description="Label horizon in days.")]
TrainSnapshots = Annotated[
    int, Field(ge=1, le=36, description="Training cut-offs before the holdout, 30 days apart.")
]
SpendDropRatio = Annotated[
    float,
    Field(
        ge=0,
        le=1,
        description="Churned: no purchase in the horizon, or (when > 0) spend there below "
        "this share of the horizon before.",
    ),
]
Trainer = Annotated[TrainerName, Field(description="Where to train: local, snowpark, sagemaker.")]
PromoteMargin = Annotated[
    float, Field(ge=0, le=1, description="How much a challenger must beat the champion by.")
]
DriftThreshold = Annotated[
    float, Field(gt=0, description="PSI above which a feature counts as drifted (rule of thumb).")
]
FailOnDrift = Annotated[bool, Field(description="Fail the run on drift (for automations).")]


class StepParams(BaseModel):
    """Common model settings: unknown parameters are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def record(self) -> dict[str, Any]:
        """The parameters as JSON-ready values, for the run record."""
        return self.model_dump(mode="json")


class IngestParams(StepParams):
    """What to load into RAW."""

    source: Source = "synthetic"
    columns: Columns = None
    date_format: DateFormat = None
    order_lines: OrderLines = False
    customers: Customers = 5000
    transactions: Transactions = 500_000
    seed: Seed = 7


class ScoreParams(StepParams):
    """Which cut-off to work on."""

    as_of: AsOf = None


class WindowParams(ScoreParams):
    """The label horizon and the training cut-offs before AS_OF."""

    horizon_days: HorizonDays = 90
    train_snapshots: TrainSnapshots = 6


class FeatureParams(WindowParams):
    """Point-in-time features and labels."""

    spend_drop_ratio: SpendDropRatio = 0.0


class TrainParams(WindowParams):
    """Training, registration and promotion."""

    trainer: Trainer = "local"
    promote_margin: PromoteMargin = 0.0


class DriftParams(ScoreParams):
    """Population stability of features and score vs the champion's training data."""

    drift_threshold: DriftThreshold = 0.2
    fail_on_drift: FailOnDrift = False


class PipelineParams(IngestParams, FeatureParams, TrainParams, DriftParams):
    """Every step's parameters, each given once."""


DEFAULTS = PipelineParams()


def describe_params(model: type[StepParams]) -> Callable[[F], F]:
    """Append an Args section from MODEL's field descriptions (Prefect's form reads it)."""

    def decorate(fn: F) -> F:
        args = [
            f"    {name}: {field.description}"
            for name, field in model.model_fields.items()
            if field.description
        ]
        fn.__doc__ = f"{(fn.__doc__ or '').strip()}\n\nArgs:\n" + "\n".join(args)
        return fn

    return decorate
