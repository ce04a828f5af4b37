"""The BTYD classics (BG/NBD, Pareto/NBD, Gamma-Gamma): maximum likelihood in SciPy.

Each cut-off T gets its own fit on the customers' purchase days before T, so the values are
point in time. The unit of "purchase" is a purchase day, as in the textbook models.

The likelihoods and conditional expectations are the published closed forms (Fader, Hardie
and Lee 2005; Fader and Hardie 2005, 2014), vectorised over customers. pymc-marketing
implements the same models, but its MAP fit cost 19 s (BG/NBD) and 27 s (Pareto/NBD) per
cut-off at 50 K customers (graph compilation and 0.2 s per likelihood evaluation), against
well under a second here; the tests check these predictions equal pymc-marketing's for the
same parameters, and the fitted parameters agree with its fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

from tasks import progress

# Columns added to the features (NULL where a model was not fitted).
BGNBD_COLUMNS = (
    "BGNBD_P_ALIVE",
    "BGNBD_EXPECTED_PURCHASES",
    "BGNBD_P_NO_PURCHASE",
    "GG_EXPECTED_SPEND",
    "BGNBD_EXPECTED_VALUE",
)
PNBD_COLUMNS = ("PNBD_P_NO_PURCHASE", "PNBD_EXPECTED_VALUE")
BTYD_COLUMNS = BGNBD_COLUMNS + PNBD_COLUMNS
RFM_COLUMNS = ("FREQUENCY", "RECENCY", "T", "MONETARY_VALUE")
# Below this many repeat buyers a Gamma-Gamma fit is noise: use the mean repeat spend instead.
MIN_REPEATERS = 20
# Four population parameters are pinned down long before this many customers; a fixed,
# evenly spaced sample bounds the fit's cost at any portfolio size (predictions cover all).
FIT_SAMPLE = 10_000
# Pareto/NBD's dropout shape s. Past ~10 dropout rates are nearly alike and the likelihood is
# flat, but hyp2f1 slows as beta outgrows alpha: on a 59-day log (CDNOW's first two months)
# the search drifted to s = 99 at 0.4 s per evaluation, 11 s per fit; capped, 1.5 s, with
# P(no purchase) within 0.004 and a likelihood as high. Fits on real logs land well below
# the cap (CDNOW 0.3, Complete Journey 0.1-0.4, the synthetic tier L 0.6).
PNBD_MAX_S = 10.0
# BG/NBD's box, (r, alpha, a, b). When every customer buys at much the same steady rate and
# nobody drops out (a subscription, a utility bill) the likelihood keeps rising towards a
# Poisson without dropout: r, alpha and b run off to 1e5-1e150, and the predictions come
# out NaN or, worse, finite and wrong (P(no purchase) 1.0 where 0.01 is true). Past r = 1e3
# (rates within 3% of each other) and b = 1e4 the model is that limit already, with a
# likelihood as high, so such a fit is repeated inside the box.
BGNBD_UPPER = np.array([1e3, np.inf, np.inf, 1e4])


class BTYDFitError(RuntimeError):
    """A BTYD model could not be fitted on this cut-off's customers."""


@dataclass(frozen=True)
class RFM:
    """One cut-off's customers: repeat purchase days, recency, age (days) and repeat spend."""

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> RFM:
        """From the SQL summary's columns (FREQUENCY, RECENCY, T, MONETARY_VALUE)."""
        return cls(*(frame[c].to_numpy(float) for c in RFM_COLUMNS))

    @cached_property
    def distinct_x(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct repeat counts, and each customer's index into them."""
        return np.unique(self.x, return_inverse=True)

    def sample(self, size: int = FIT_SAMPLE) -> RFM:
        """Every k-th customer, so the same history always gives the same sample."""
        step = max(len(self.x) // size, 1)
        return RFM(self.x[::step], self.t_x[::step], self.T[::step], self.m[::step])


def bgnbd_loglik(p: np.ndarray, d: RFM) -> np.ndarray:
    """BG/NBD log-likelihood per customer; p = (r, alpha, a, b)."""
    r, alpha, a, b = p
    # The special functions depend on x alone: evaluate them once per distinct count.
    xs, at = d.distinct_x
    lead = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    stay_x = betaln(a, b + xs)
    # only a repeat buyer can have dropped out already
    drop_x = np.where(xs > 0, betaln(a + 1, b + np.maximum(xs, 1) - 1), -np.inf)
    rx = r + d.x
    stay = stay_x[at] - rx * np.log(alpha + d.T)
    drop = drop_x[at] - rx * np.log(alpha + d.t_x)
    return lead[at] + np.logaddexp(stay, drop)


def pnbd_loglik(p: np.ndarray, d: RFM) -> np.ndarray:
    """Pareto/NBD log-likelihood per customer; p = (r, alpha, s, beta)."""
    r, alpha, s, beta = p
    x, t_x, T = d.x, d.t_x, d.T
    rsx, rx = r + s + x, r + x
    big, small = max(alpha, beta), min(alpha, beta)
    second = s + 1 if alpha >= beta else rx
    third = s if alpha >= beta else rx + 1
    anchor = rsx * np.log(big + t_x)  # factored out of the first 2F1 for stability
    first_term = np.log(hyp2f1(rsx, second, rsx + 1, (big - small) / (big + t_x)))
    second_term = (
        np.log(hyp2f1(rsx, third, rsx + 1, (big - small) / (big + T)))
        - rsx * np.log(big + T)
        + anchor
    )
    base = gammaln(rx) - gammaln(r) + r * np.log(alpha) + s * np.log(beta) - anchor
    return base + np.logaddexp(
        np.log(s) - np.log(rsx) + first_term, np.log(rx) - np.log(rsx) + second_term
    )


def gg_loglik(p: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gamma-Gamma log-likelihood of mean repeat spend M over X purchases; p = (p, q, v)."""
    shape, q, v = p
    px = shape * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def fit_mle(
    model: str,
    loglik: Callable[[np.ndarray], np.ndarray],
    scale: np.ndarray,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Maximise the summed log-likelihood over positive parameters (searched in log space).

    SCALE is each parameter's natural size, so the search starts at 1 in every direction;
    UPPER caps parameters (inf: no cap).
    """

    def objective(log_params: np.ndarray) -> float:
        with np.errstate(all="ignore"):
            mean = float(np.mean(loglik(np.exp(log_params) * scale)))
        return -mean if np.isfinite(mean) else 1e300

    bounds = None
    if upper is not None:
        caps = np.log(upper / scale)
        bounds = [(None, None if np.isinf(c) else float(c)) for c in caps]
    result = minimize(objective, np.zeros(len(scale)), method="L-BFGS-B", bounds=bounds)
    if not np.isfinite(result.fun) or result.fun >= 1e300:
        raise BTYDFitError(f"{model} did not fit: no finite likelihood ({result.message})")
    return np.exp(result.x) * scale


def fit_bgnbd(d: RFM) -> np.ndarray:
    """BG/NBD parameters (r, alpha, a, b) by maximum likelihood, inside BGNBD_UPPER."""
    scale = np.array([1.0, time_scale(d), 1.0, 1.0])

    def loglik(p: np.ndarray) -> np.ndarray:
        return bgnbd_loglik(p, d)

    params = fit_mle("BG/NBD", loglik, scale)
    if (params > BGNBD_UPPER).any():
        # Only then: any bound changes L-BFGS-B's first step, and the likelihood is flat
        # along a and b, so fits already inside the box are kept exactly as they were.
        params = fit_mle("BG/NBD", loglik, scale, BGNBD_UPPER)
    return params


def fit_pnbd(d: RFM) -> np.ndarray:
    """Pareto/NBD parameters (r, alpha, s, beta) by maximum likelihood, with s <= PNBD_MAX_S."""
    scale = np.array([1.0, time_scale(d), 1.0, time_scale(d)])
    upper = np.array([np.inf, np.inf, PNBD_MAX_S, np.inf])
    return fit_mle("Pareto/NBD", lambda p: pnbd_loglik(p, d), scale, upper)


def time_scale(d: RFM) -> float:
    """A typical customer age: the rate parameters' natural unit."""
    return float(max(np.mean(d.T), 1.0))


def fit_gg(d: RFM) -> np.ndarray | None:
    """Gamma-Gamma parameters (p, q, v) on repeat buyers; None when too few to fit."""
    repeat = (d.x > 0) & (d.m > 0)
    if repeat.sum() < MIN_REPEATERS:
        return None
    x, m = d.x[repeat], d.m[repeat]
    return fit_mle(
        "Gamma-Gamma", lambda p: gg_loglik(p, x, m), np.array([1.0, 2.0, float(np.mean(m))])
    )


def gg_spend(params: np.ndarray | None, d: RFM) -> np.ndarray:
    """Expected spend per purchase day; customers without repeat spend get the population mean."""
    repeat = (d.x > 0) & (d.m > 0)
    if params is None:
        mean = float(d.m[repeat].mean()) if repeat.any() else 0.0
        return np.full(len(d.x), mean)
    shape, q, v = params
    x = np.where(repeat, d.x, 0.0)
    m = np.where(repeat, d.m, 0.0)
    return shape * (v + x * m) / (shape * x + q - 1)


def bgnbd_predictions(params: np.ndarray, d: RFM, horizon: float) -> dict[str, np.ndarray]:
    """P(alive), expected purchase days and P(no purchase) in the next HORIZON days."""
    r, alpha, a, b = params
    x, t_x, T = d.x, d.t_x, d.T
    repeat = x > 0
    # log of the "dropped out after the last purchase" odds; 0 odds for one-time buyers
    log_odds = np.where(
        repeat,
        np.log(a)
        - np.log(b + np.maximum(x, 1) - 1)
        + (r + x) * np.log((alpha + T) / (alpha + t_x)),
        -np.inf,
    )
    p_alive = 1 / (1 + np.exp(log_odds))
    z = horizon / (alpha + T + horizon)
    stay = ((alpha + T) / (alpha + T + horizon)) ** (r + x)
    expected = (a + b + x - 1) / (a - 1) * (1 - stay * hyp2f1(r + x, b + x, a + b + x - 1, z))
    return {
        "P_ALIVE": p_alive,
        "EXPECTED_PURCHASES": expected * p_alive,
        # dead customers buy nothing; a live one buys nothing with the Poisson's zero term
        "P_NO_PURCHASE": 1 - p_alive + p_alive * stay,
    }


def pnbd_predictions(params: np.ndarray, d: RFM, horizon: float) -> dict[str, np.ndarray]:
    """Expected purchase days and P(no purchase) in the next HORIZON days (Pareto/NBD)."""
    r, alpha, s, beta = params
    x, T, t = d.x, d.T, horizon
    loglik = pnbd_loglik(params, d)
    prior = r * np.log(alpha) + s * np.log(beta) - gammaln(r)
    log_alive = gammaln(r + x) + prior - (r + x) * np.log(alpha + T) - s * np.log(beta + T) - loglik
    expected = np.exp(
        log_alive
        + np.log(r + x)
        + np.log(beta + T)
        - np.log(alpha + T)
        + np.log((1 - ((beta + T) / (beta + T + t)) ** (s - 1)) / (s - 1))
    )
    # Fader and Hardie (2006, note 028): P(X(T, T + t) = 0), the n = 0 case.
    big, small = max(alpha, beta), min(alpha, beta)
    second = r + x if alpha < beta else s + 1
    rsx = r + s + x
    shared = prior + gammaln(rsx) + betaln(r + x, s + 1) - gammaln(s) - loglik

    def tail(end: np.ndarray) -> np.ndarray:
        return (
            shared
            + np.log(hyp2f1(rsx, second, rsx + 1, (big - small) / (big + end)))
            - (rsx * np.log(big + end))
        )

    log_b_one = (
        gammaln(r + x) + prior - (r + x) * np.log(alpha + T + t) - s * np.log(beta + T + t) - loglik
    )
    terms = np.stack([log_b_one, tail(T), tail(T + t)])
    signs = np.array([1.0, 1.0, -1.0])[:, None] * np.ones_like(terms)
    none = 1 - np.exp(log_alive) + np.exp(logsumexp(terms, axis=0, b=signs))
    return {"EXPECTED_PURCHASES": expected, "P_NO_PURCHASE": np.clip(none, 0, 1)}


def fit_cutoff(rfm: pd.DataFrame, horizon_days: int, pareto: bool) -> pd.DataFrame:
    """Fit the models on one cut-off's customers; NaN columns where nobody came back."""
    out = pd.DataFrame(index=rfm.index, columns=list(BTYD_COLUMNS), dtype=float)
    if len(rfm) < 2 or not (rfm["FREQUENCY"] > 0).any():
        return out  # nobody has come back yet: the models have nothing to learn from
    data = RFM.of(rfm)
    sample = data.sample()
    spend = gg_spend(fit_gg(sample), data)
    with np.errstate(all="ignore"):
        bg = bgnbd_predictions(fit_bgnbd(sample), data, horizon_days)
        if not all(np.isfinite(v).all() for v in bg.values()):
            raise BTYDFitError("BG/NBD did not fit: its predictions are not finite")
        out["BGNBD_P_ALIVE"] = bg["P_ALIVE"]
        out["BGNBD_EXPECTED_PURCHASES"] = bg["EXPECTED_PURCHASES"]
        out["BGNBD_P_NO_PURCHASE"] = bg["P_NO_PURCHASE"]
        out["GG_EXPECTED_SPEND"] = spend
        out["BGNBD_EXPECTED_VALUE"] = bg["EXPECTED_PURCHASES"] * spend
        if pareto:
            pn = pnbd_predictions(fit_pnbd(sample), data, horizon_days)
            if not all(np.isfinite(v).all() for v in pn.values()):
                raise BTYDFitError("Pareto/NBD did not fit: its predictions are not finite")
            out["PNBD_P_NO_PURCHASE"] = pn["P_NO_PURCHASE"]
            out["PNBD_EXPECTED_VALUE"] = pn["EXPECTED_PURCHASES"] * spend
    return out.clip(lower=0)


def btyd_features(
    rfm: pd.DataFrame, horizon_days: int, pareto_cutoffs: set
) -> tuple[pd.DataFrame, list[str]]:
    """BTYD columns for every (CUSTOMER_ID, AS_OF_DATE) of RFM, one fit per cut-off.

    Pareto/NBD is fitted only at PARETO_CUTOFFS (the holdout and the scoring date): it is
    a baseline there, and costs several times a BG/NBD fit. Returns the frame and problems.
    """
    frames, problems = [], []
    groups = rfm.groupby("AS_OF_DATE", sort=True)
    for done, (as_of, group) in enumerate(groups):
        progress.advance("BTYD fits (cut-offs)", done, groups.ngroups)
        group = group.reset_index(drop=True)
        try:
            predicted = fit_cutoff(group, horizon_days, as_of in pareto_cutoffs)
        except BTYDFitError as exc:
            problems.append(f"cut-off {as_of}: {exc}")
            predicted = pd.DataFrame(index=group.index, columns=list(BTYD_COLUMNS), dtype=float)
        frames.append(pd.concat([group[["CUSTOMER_ID", "AS_OF_DATE"]], predicted], axis=1))
    progress.advance("BTYD fits (cut-offs)", groups.ngroups, groups.ngroups)
    columns = ["CUSTOMER_ID", "AS_OF_DATE", *BTYD_COLUMNS]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return frame[columns], problems
