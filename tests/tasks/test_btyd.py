"""The BTYD classics in SciPy: pymc-marketing's numbers for the same parameters, and a fit
that recovers the parameters a simulated portfolio was drawn from."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pymc_marketing import clv
from pymc_marketing.clv.distributions import BetaGeoNBD, ParetoNBD

from tasks import btyd

BG = {"r": 0.6, "alpha": 18.0, "a": 0.9, "b": 2.5}
PARETO = {"r": 0.7, "alpha": 15.0, "s": 0.8, "beta": 40.0}
GG = {"p": 4.0, "q": 3.0, "v": 60.0}


def customers(n: int = 400, seed: int = 3) -> btyd.RFM:
    """Plausible summaries: one-time buyers, regulars, lapsed; T >= recency."""
    rng = np.random.default_rng(seed)
    T = rng.integers(1, 700, n).astype(float)
    x = np.where(rng.random(n) < 0.3, 0, rng.poisson(T / 40)).astype(float)
    t_x = np.where(x > 0, np.floor(T * rng.random(n)), 0.0)
    m = np.where(x > 0, rng.gamma(3.0, 20.0, n), 0.0)
    return btyd.RFM(x, t_x, T, m)


def library(model_class: type, rfm: btyd.RFM, **params: float):
    """A pymc-marketing model whose posterior is exactly PARAMS (one chain, one draw)."""
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(len(rfm.x)),
            "frequency": rfm.x,
            "recency": rfm.t_x,
            "T": rfm.T,
            "monetary_value": np.where(rfm.m > 0, rfm.m, 1.0),
        }
    )
    model = model_class(data=frame)
    model.build_model()
    model.fit_result = az.from_dict(posterior={k: np.array([[v]]) for k, v in params.items()})
    return model


def flat(array) -> np.ndarray:
    """One draw's values in customer order."""
    return np.asarray(array).reshape(-1)


def test_the_likelihoods_equal_pymc_marketings_distributions():
    rfm = customers()
    values = np.column_stack([rfm.t_x, rfm.x])
    theirs_bg = pm.logp(BetaGeoNBD.dist(**BG, T=rfm.T), values).eval()
    theirs_pareto = pm.logp(ParetoNBD.dist(**PARETO, T=rfm.T), values).eval()
    ours_bg = btyd.bgnbd_loglik(np.array(list(BG.values())), rfm)
    ours_pareto = btyd.pnbd_loglik(np.array(list(PARETO.values())), rfm)
    np.testing.assert_allclose(ours_bg, theirs_bg, rtol=1e-6)
    np.testing.assert_allclose(ours_pareto, theirs_pareto, rtol=1e-6, atol=1e-6)


def test_bgnbd_predictions_equal_pymc_marketings_for_the_same_parameters():
    rfm = customers()
    model = library(clv.BetaGeoModel, rfm, **BG)
    ours = btyd.bgnbd_predictions(np.array(list(BG.values())), rfm, 90)
    np.testing.assert_allclose(ours["P_ALIVE"], flat(model.expected_probability_alive()), 1e-8)
    np.testing.assert_allclose(
        ours["EXPECTED_PURCHASES"], flat(model.expected_purchases(future_t=90)), 1e-6
    )
    # Hardie's eq. 34 has the dropped-out term only for repeat buyers (x > 0); pymc-marketing
    # 0.19 keeps it for x = 0 too, so only repeat buyers are compared with it, and a one-time
    # buyer (alive for sure) gets the Poisson zero term of its posterior rate.
    repeat = rfm.x > 0
    theirs = flat(model.expected_probability_no_purchase(t=90))
    np.testing.assert_allclose(ours["P_NO_PURCHASE"][repeat], theirs[repeat], rtol=1e-8)
    once = ~repeat
    r, alpha = BG["r"], BG["alpha"]
    expected = ((alpha + rfm.T[once]) / (alpha + rfm.T[once] + 90)) ** r
    np.testing.assert_allclose(ours["P_NO_PURCHASE"][once], expected, rtol=1e-12)


def test_pareto_predictions_equal_pymc_marketings_for_the_same_parameters():
    rfm = customers()
    for params in (PARETO, PARETO | {"beta": 5.0}):  # both branches: alpha >= beta and below
        model = library(clv.ParetoNBDModel, rfm, **params)
        ours = btyd.pnbd_predictions(np.array(list(params.values())), rfm, 90)
        np.testing.assert_allclose(
            ours["EXPECTED_PURCHASES"], flat(model.expected_purchases(future_t=90)), rtol=1e-6
        )
        theirs = flat(model.expected_purchase_probability(n_purchases=0, future_t=90))
        np.testing.assert_allclose(ours["P_NO_PURCHASE"], theirs, rtol=1e-6, atol=1e-9)


def test_gamma_gamma_spend_equals_pymc_marketings_for_the_same_parameters():
    rfm = customers()
    model = library(clv.GammaGammaModel, rfm, **GG)
    theirs = flat(
        model.expected_customer_spend(
            data=pd.DataFrame(
                {
                    "customer_id": np.arange(len(rfm.x)),
                    "frequency": rfm.x,
                    "monetary_value": np.where(rfm.m > 0, rfm.m, 1.0),
                }
            )
        )
    )
    np.testing.assert_allclose(btyd.gg_spend(np.array(list(GG.values())), rfm), theirs, rtol=1e-8)


def simulate_bgnbd(n: int, seed: int = 11) -> tuple[btyd.RFM, np.ndarray, float]:
    """Customers drawn from BG (purchase days), their summaries at T, and purchases in (T, T+90]."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(BG["r"], 1 / BG["alpha"], n)
    drop = rng.beta(BG["a"], BG["b"], n)
    T = rng.uniform(30, 720, n)
    now, alive = np.zeros(n), np.ones(n, bool)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    for _ in range(2000):
        if not alive.any():
            break
        now = now + rng.exponential(1 / lam)
        inside = alive & (now <= T)
        after = alive & (now > T) & (now <= T + 90)
        x[inside] += 1
        t_x[inside] = now[inside]
        future[after] += 1
        alive &= now <= T + 90
        alive &= rng.random(n) >= drop
    return btyd.RFM(x, t_x, T, np.zeros(n)), future, 90.0


def test_the_fit_recovers_the_parameters_a_portfolio_was_drawn_from():
    rfm, future, horizon = simulate_bgnbd(30_000)
    fitted = btyd.fit_bgnbd(rfm.sample())
    np.testing.assert_allclose(fitted, list(BG.values()), rtol=0.25)
    predicted = btyd.bgnbd_predictions(fitted, rfm, horizon)
    # calibrated on the population, and on the customers the churn question is about
    assert predicted["EXPECTED_PURCHASES"].mean() == pytest.approx(future.mean(), rel=0.05)
    assert predicted["P_NO_PURCHASE"].mean() == pytest.approx((future == 0).mean(), abs=0.02)
    pareto = btyd.pnbd_predictions(btyd.fit_pnbd(rfm.sample()), rfm, horizon)
    assert pareto["P_NO_PURCHASE"].mean() == pytest.approx((future == 0).mean(), abs=0.03)


def test_gamma_gamma_fit_recovers_its_parameters():
    rng = np.random.default_rng(5)
    n = 20_000
    x = rng.integers(1, 30, n).astype(float)
    nu = rng.gamma(GG["q"], 1 / GG["v"], n)
    m = rng.gamma(GG["p"] * x, 1 / (nu * x))  # mean of x Gamma(p, nu) spends
    fitted = btyd.fit_gg(btyd.RFM(x, x, x, m))
    np.testing.assert_allclose(fitted, list(GG.values()), rtol=0.15)


def test_a_fit_that_cannot_converge_leaves_the_cut_off_empty_and_says_why():
    rfm = pd.DataFrame(
        {
            "CUSTOMER_ID": ["a", "b", "c"],
            "AS_OF_DATE": [pd.Timestamp("2024-01-01").date()] * 3,
            "FREQUENCY": [0.0, 1.0, np.nan],
            "RECENCY": [0.0, 5.0, 1.0],
            "T": [10.0, 20.0, 30.0],
            "MONETARY_VALUE": [np.nan, 10.0, 1.0],
        }
    )
    frame, problems = btyd.btyd_features(rfm, 90, set())
    assert len(frame) == 3 and frame["BGNBD_P_ALIVE"].isna().all()
    assert problems and "BG/NBD did not fit" in problems[0]


def test_pareto_on_alike_dropout_rates_stays_capped_and_calibrated():
    # One dropout rate for everyone: the likelihood rises forever along s (its shape), where
    # hyp2f1 is slow. The cap stops the search there and costs no calibration.
    rng = np.random.default_rng(3)
    n = 20_000
    lam = rng.gamma(0.8, 1 / 20, n)  # purchase rates per day
    death = rng.exponential(1 / 0.004, n)  # the same dropout rate for all
    T = rng.uniform(60, 400, n)
    x, t_x, future = np.zeros(n), np.zeros(n), np.zeros(n)
    now = np.zeros(n)
    for _ in range(400):
        now = now + rng.exponential(1 / lam)
        alive = now <= death
        x += alive & (now <= T)
        t_x = np.where(alive & (now <= T), now, t_x)
        future += alive & (now > T) & (now <= T + 90)
    rfm = btyd.RFM(x, t_x, T, np.zeros(n))
    fitted = btyd.fit_pnbd(rfm.sample())
    assert fitted[2] <= btyd.PNBD_MAX_S * (1 + 1e-9)  # held at the cap
    predicted = btyd.pnbd_predictions(fitted, rfm, 90.0)
    assert predicted["P_NO_PURCHASE"].mean() == pytest.approx((future == 0).mean(), abs=0.03)
    assert predicted["EXPECTED_PURCHASES"].mean() == pytest.approx(future.mean(), rel=0.1)


def steady_buyers(n: int, seed: int, rate: float = 0.05) -> tuple[btyd.RFM, np.ndarray]:
    """Customers who all buy at RATE per day and never drop out, and their next 90 days."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(300, 400, n)
    x, t_x, future, now = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    for _ in range(80):
        now = now + rng.exponential(1 / rate, n)
        x += now <= T
        t_x = np.where(now <= T, now, t_x)
        future += (now > T) & (now <= T + 90)
    return btyd.RFM(x, t_x, T, np.zeros(n)), future


@pytest.mark.parametrize(("n", "seed"), [(5000, 1), (800, 3), (5000, 5)])
def test_bgnbd_on_steady_buyers_without_dropout_stays_in_its_box_and_calibrated(n, seed):
    # The likelihood rises forever towards a Poisson without dropout. Unbounded, these fits
    # ran to r ~ 1e5-1e152: NaN expected purchases, or P(no purchase) 1.0 for everyone.
    rfm, future = steady_buyers(n, seed)
    fitted = btyd.fit_bgnbd(rfm.sample())
    assert (fitted <= btyd.BGNBD_UPPER).all()
    predicted = btyd.bgnbd_predictions(fitted, rfm, 90.0)
    assert all(np.isfinite(v).all() for v in predicted.values())
    assert predicted["P_NO_PURCHASE"].mean() == pytest.approx((future == 0).mean(), abs=0.01)
    assert predicted["EXPECTED_PURCHASES"].mean() == pytest.approx(future.mean(), rel=0.03)
