"""Training as a unit: what it says about a holdout too small to rank the models."""

from __future__ import annotations

import pandas as pd

from tasks.training import holdout_warning


def holdout(customers: int, churned: int) -> pd.DataFrame:
    """A holdout of CUSTOMERS rows, CHURNED of them churned."""
    return pd.DataFrame({"CHURNED": [1] * churned + [0] * (customers - churned)})


def test_a_small_or_one_sided_holdout_is_called_noisy():
    assert holdout_warning(holdout(20, 6)).startswith("the holdout has 20 customers (6 churned)")
    assert "too few" in holdout_warning(holdout(5000, 7))  # hardly any churners to rank
    assert "too few" in holdout_warning(holdout(5000, 4995))  # hardly any who stayed
    assert "0 customers" in holdout_warning(holdout(0, 0))
    assert holdout_warning(holdout(5000, 900)) is None
