"""Reason codes: each customer's own feature values that move its churn score, strongest first."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tasks import reasons as reasons_module
from tasks.modeling import ModelConfig, build_churn_booster
from tasks.reasons import risk_reasons


def portfolio(n: int = 3000, seed: int = 7) -> pd.DataFrame:
    """Customers whose churn rises with recency and falls with frequency and spend."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "RECENCY_DAYS": rng.integers(0, 365, n).astype(float),
            "TXN_COUNT_90": rng.poisson(6, n).astype(float),
            "SPEND_90": rng.gamma(2.0, 60.0, n),
            "TENURE_DAYS": rng.integers(100, 2000, n).astype(float),
        }
    )
    logit = (frame["RECENCY_DAYS"] - 150) / 30 - (frame["TXN_COUNT_90"] - 6) / 3
    frame["CHURNED"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def test_a_customer_risky_by_recency_alone_has_recency_as_top_reason():
    train = portfolio()
    features = ["RECENCY_DAYS", "TXN_COUNT_90", "SPEND_90", "TENURE_DAYS"]
    model = build_churn_booster(ModelConfig()).fit(train[features], train["CHURNED"])
    typical = train[features].median()
    customers = pd.DataFrame([typical, typical]).reset_index(drop=True)
    customers.loc[1, "RECENCY_DAYS"] = 350.0
    customers.insert(0, "CUSTOMER_ID", ["typical", "lapsed"])
    reasons = [json.loads(r) for r in risk_reasons(model, customers, typical)]
    top = reasons[1][0]
    assert top["feature"] == "RECENCY_DAYS" and top["direction"] == "raises"
    assert top["value"] == 350.0 and top["effect"] > 0.1
    # the typical customer differs from typical in nothing: no reason to name
    assert reasons[0] == []


def test_reasons_are_ranked_by_strength_with_their_direction():
    train = portfolio()
    features = ["RECENCY_DAYS", "TXN_COUNT_90", "SPEND_90", "TENURE_DAYS"]
    model = build_churn_booster(ModelConfig()).fit(train[features], train["CHURNED"])
    typical = train[features].median()
    loyal = typical.to_frame().T.assign(RECENCY_DAYS=5.0, TXN_COUNT_90=15.0)
    [reasons] = [json.loads(r) for r in risk_reasons(model, loyal, typical)]
    assert {r["feature"] for r in reasons[:2]} == {"RECENCY_DAYS", "TXN_COUNT_90"}
    assert all(r["direction"] == "lowers" for r in reasons[:2])
    strengths = [abs(r["effect"]) for r in reasons]
    assert strengths == sorted(strengths, reverse=True) and len(reasons) <= 3


def test_reasons_are_looked_for_among_the_most_important_features_only(monkeypatch):
    train = portfolio()
    features = ["RECENCY_DAYS", "TXN_COUNT_90", "SPEND_90", "TENURE_DAYS"]
    model = build_churn_booster(ModelConfig()).fit(train[features], train["CHURNED"])
    typical = train[features].median()
    lapsed = typical.to_frame().T.assign(RECENCY_DAYS=180.0, TXN_COUNT_90=0.0)
    ranked = {"TXN_COUNT_90": 0.2, "SPEND_90": 0.01, "RECENCY_DAYS": 0.0}
    with_all = json.loads(risk_reasons(model, lapsed, typical)[0])
    assert "RECENCY_DAYS" in {r["feature"] for r in with_all}
    monkeypatch.setattr(reasons_module, "REASON_FEATURES", 2)  # the count and the spend
    [found] = [json.loads(r) for r in risk_reasons(model, lapsed, typical, importances=ranked)]
    assert found and {r["feature"] for r in found} <= {"TXN_COUNT_90", "SPEND_90"}
    assert reasons_module.reason_candidates(features, {}) == features  # unknown: try all


def test_stacked_chunks_give_the_effects_of_one_prediction_per_feature(monkeypatch):
    train = portfolio()
    features = ["RECENCY_DAYS", "TXN_COUNT_90", "SPEND_90", "TENURE_DAYS"]
    model = build_churn_booster(ModelConfig()).fit(train[features], train["CHURNED"])
    typical = train[features].median()
    customers = train[features].iloc[:101]
    tried = ["RECENCY_DAYS", "SPEND_90"]
    base = model.predict_proba(customers)[:, 1]
    expected = np.zeros(customers.shape)
    for name in tried:
        j = features.index(name)
        expected[:, j] = base - model.predict_proba(customers.assign(**{name: typical[name]}))[:, 1]
    monkeypatch.setattr(reasons_module, "STACKED_ROWS", 30)  # chunks of 10 customers x 3 copies
    found = reasons_module.contributions(model, customers, typical, tried)
    np.testing.assert_allclose(found, expected, atol=1e-12)
    assert np.abs(found[:, [1, 3]]).max() == 0 and np.abs(found).max() > 0.05
    assert not reasons_module.contributions(model, customers, typical, []).any()


def test_a_value_already_typical_is_not_predicted_again(monkeypatch):
    train = portfolio()
    features = ["RECENCY_DAYS", "TXN_COUNT_90", "SPEND_90", "TENURE_DAYS"]
    model = build_churn_booster(ModelConfig()).fit(train[features], train["CHURNED"])
    typical = train[features].median()
    customers = train[features].iloc[:40].copy()
    customers["TXN_COUNT_90"] = typical["TXN_COUNT_90"] + np.where(np.arange(40) < 25, 0, 4)
    predicted = []
    original = model.predict_proba
    monkeypatch.setattr(model, "predict_proba", lambda x: predicted.append(len(x)) or original(x))
    found = reasons_module.contributions(model, customers, typical, ["TXN_COUNT_90"])
    assert predicted == [40 + 15]  # the customers, then copies of the 15 not yet typical
    assert not found[:25].any() and np.abs(found[25:, 1]).max() > 0
    perturbed = customers.assign(TXN_COUNT_90=typical["TXN_COUNT_90"])
    expected = original(customers)[:, 1] - original(perturbed)[:, 1]
    np.testing.assert_allclose(found[:, 1], expected, atol=1e-12)
