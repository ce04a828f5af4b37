"""Business policy: the thresholds that depend on the business, in one file per deployment.

Defaults are generic (any business, any era). A deployment overrides them in `lifeline.toml`
(or the file `LIFELINE_POLICY_FILE` names); the file is validated when a run starts and the
resolved policy is recorded with the run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

POLICY_FILE = "lifeline.toml"


class PolicyError(ValueError):
    """The policy file is unreadable or invalid."""


class Section(BaseModel):
    """A policy section: unknown keys are typos, so they are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestPolicy(Section):
    """What a plausible transaction looks like."""

    earliest_date: dt.date = Field(
        dt.date(1900, 1, 1),
        description="Earlier timestamps are parse errors (epoch, 2-digit years).",
    )
    max_future_days: int = Field(1, ge=0, description="Clock skew tolerated past now.")
    min_amount: float = Field(-1_000_000, description="Smallest plausible amount (refunds < 0).")
    max_amount: float = Field(1_000_000, description="Largest plausible amount.")
    amount_outlier_share: float = Field(
        0.0001, ge=0, le=1, description="Share of rows allowed outside the amount range."
    )
    # Only 'approved' counts as a purchase; a status outside this set has no known meaning,
    # so its load is rejected rather than silently dropped from the features.
    statuses: tuple[str, ...] = Field(
        ("approved", "declined", "reversed", "pending"),
        description="Allowed status values (only 'approved' is a purchase); empty = any.",
    )
    channels: tuple[str, ...] = Field((), description="Expected channel values; empty = any.")
    load_size_ratio: float = Field(
        20, gt=1, description="Warn when a load is this many times bigger/smaller than usual."
    )
    # A row with no customer id (a guest purchase) cannot be anyone's history; by default
    # its file is rejected so that a broken id column is never mistaken for guests.
    rows_without_customer: Literal["reject", "skip"] = Field(
        "reject",
        description="'reject' a file with rows that have no customer id, or 'skip' those rows "
        "(counted in a warning).",
    )

    def gate_parameters(self, max_ts: str) -> dict[str, Any]:
        """The raw gate's suite parameters under this policy."""
        return {
            "min_ts": f"{self.earliest_date.isoformat()} 00:00:00",
            "max_ts": max_ts,
            "min_amount": self.min_amount,
            "max_amount": self.max_amount,
            "amount_mostly": 1 - self.amount_outlier_share,
            "statuses": [s.lower() for s in self.statuses] or None,
            "channels": list(self.channels) or None,
        }

    @model_validator(mode="after")
    def check_amounts(self) -> IngestPolicy:
        """The amount range must not be empty."""
        if self.min_amount >= self.max_amount:
            raise ValueError("min_amount must be below max_amount")
        return self


class LabelPolicy(Section):
    """What churn means and which churn rates are believable."""

    churn_rate_min: float = Field(0.001, ge=0, le=1)
    churn_rate_max: float = Field(0.999, ge=0, le=1)
    churn_rate_shift: float = Field(
        0.15, gt=0, le=1, description="Warn when the churn rate moved this much since last run."
    )

    @model_validator(mode="after")
    def check_band(self) -> LabelPolicy:
        """The churn-rate band must not be empty."""
        if self.churn_rate_min >= self.churn_rate_max:
            raise ValueError("churn_rate_min must be below churn_rate_max")
        return self


class FeaturePolicy(Section):
    """Which customers get features, and whether the BTYD models are fitted."""

    lookback_days: int = Field(
        0, ge=0, description="Score customers who bought in this many days; 0 = ever."
    )
    btyd: bool = Field(True, description="Fit BG/NBD, Pareto/NBD and Gamma-Gamma at each cut-off.")


class ScoringPolicy(Section):
    """How scores become bands and tiers for the retention team."""

    risk_bands: tuple[int, int] = Field((40, 70), description="Medium and High start here.")
    value_tiers: dict[str, float] = Field(
        default_factory=lambda: {"Platinum": 15000.0, "Gold": 5000.0, "Silver": 1000.0},
        description="Tier name -> minimum predicted CLV; below all: Bronze.",
    )

    @model_validator(mode="after")
    def check_bands(self) -> ScoringPolicy:
        """Risk cut points are increasing scores between 1 and 100."""
        low, high = self.risk_bands
        if not 0 < low < high <= 100:
            raise ValueError("risk_bands must be two increasing scores in 1..100")
        return self


class MonitoringPolicy(Section):
    """When past scores, judged on what customers then did, fall short of their holdout."""

    realised_auc_margin: float = Field(
        0.05, ge=0, le=1, description="Alert when realised ROC AUC is this far below holdout."
    )
    realised_ece_margin: float = Field(
        0.05, ge=0, le=1, description="Alert when realised ECE is this far above holdout."
    )


class Policy(Section):
    """The whole per-deployment policy."""

    ingest: IngestPolicy = IngestPolicy()
    labels: LabelPolicy = LabelPolicy()
    features: FeaturePolicy = FeaturePolicy()
    scoring: ScoringPolicy = ScoringPolicy()
    monitoring: MonitoringPolicy = MonitoringPolicy()

    def record(self) -> dict[str, Any]:
        """The policy as plain JSON values, for the run record."""
        return self.model_dump(mode="json")

    def digest(self) -> str:
        """A short hash of the resolved policy (changes when any threshold does)."""
        text = json.dumps(self.record(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_policy(path: Path | None = None) -> Policy:
    """Read PATH (or ./lifeline.toml if present); defaults where the file is silent."""
    if path is None:
        default = Path(POLICY_FILE)
        if not default.is_file():
            return Policy()
        path = default
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyError(f"policy file {path}: {problems}") from None
