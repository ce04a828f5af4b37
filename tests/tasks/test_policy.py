"""The business policy: generic defaults, one clear line for a bad file, used by the run."""

from __future__ import annotations

import numpy as np
import pytest

from tasks import scoring
from tasks.policy import Policy, PolicyError, ScoringPolicy, load_policy


def test_defaults_are_generic(tmp_path):
    policy = Policy()
    assert policy.ingest.earliest_date.year == 1900 and policy.ingest.channels == ()
    assert "approved" in policy.ingest.statuses  # the one status that counts as a purchase
    assert policy.labels.churn_rate_max > 0.9  # a low-frequency retailer may see 70 %
    assert policy.features.lookback_days == 0  # every customer who ever bought is scored


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[labels]\nchurn_rate_max = 2\n", "labels.churn_rate_max"),
        ("[features]\nbtdy = false\n", "features.btdy: Extra inputs"),
        ("[scoring]\nrisk_bands = [70, 40]\n", "risk_bands must be two increasing"),
        ("[ingest\n", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "lifeline.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as err:
        load_policy(path)
    assert "\n" not in str(err.value)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")


def test_the_repository_file_lists_the_defaults():
    from pathlib import Path

    assert load_policy(Path(__file__).parents[2] / "lifeline.toml") == Policy()


def test_bands_and_tiers_follow_the_policy():
    policy = ScoringPolicy(risk_bands=(20, 50), value_tiers={"Top": 100.0})
    bands = scoring.risk_band(np.array([10, 20, 49, 50]), policy)
    assert bands.tolist() == ["Low", "Medium", "Medium", "High"]
    assert scoring.value_tier(np.array([5.0, 150.0]), policy).tolist() == ["Bronze", "Top"]
