"""Training as a unit: what it says about a holdout too small to rank the models."""

from __future__ import annotations

import pandas as pd

from tasks.training import holdout_warning


def holdout(customers: int, churned: int, spend: float = 10.0) -> pd.DataFrame:
    """A holdout of CUSTOMERS rows, CHURNED of them churned, the others spending SPEND."""
    flags = [1] * churned + [0] * (customers - churned)
    return pd.DataFrame({"CHURNED": flags, "FUTURE_VALUE": [spend * (1 - f) for f in flags]})


def test_a_small_or_one_sided_holdout_is_called_noisy():
    assert holdout_warning(holdout(20, 6)).startswith("the holdout has 20 customers (6 churned)")
    assert "too few" in holdout_warning(holdout(5000, 7))  # hardly any churners to rank
    assert "too few" in holdout_warning(holdout(5000, 4995))  # hardly any who stayed
    assert "0 customers" in holdout_warning(holdout(0, 0))
    assert holdout_warning(holdout(5000, 900)) is None


def test_a_holdout_without_spend_says_the_clv_models_cannot_be_told_apart():
    assert "are the amounts all zero?" in holdout_warning(holdout(5000, 900, spend=0.0))
