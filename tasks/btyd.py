"""The BTYD classics (BG/NBD, Pareto/NBD, Gamma-Gamma) from pymc-marketing, fitted by MAP.

Each cut-off T gets its own fit on the customers' purchase days before T, so the values are
point in time. The unit of "purchase" is a purchase day, as in the textbook models.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pandas as pd

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
# Fits are deterministic functions of the RFM summary: a re-run on the same history (a retry,
# a second run of the day) reuses them instead of paying several seconds per cut-off again.
FIT_CACHE: dict[str, pd.DataFrame] = {}
FIT_CACHE_SIZE = 64
# Below this many repeat buyers a Gamma-Gamma fit is noise: use the mean repeat spend instead.
MIN_REPEATERS = 20


class BTYDFitError(RuntimeError):
    """A BTYD model could not be fitted on this cut-off's customers."""


@contextmanager
def quiet() -> Iterator[None]:
    """Keep PyMC/PyTensor chatter (BLAS notices, sampler logs) out of the run's terminal."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "pymc_marketing", "arviz")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def values(array: object) -> np.ndarray:
    """A posterior summary (one MAP draw) as a flat float array in customer order."""
    data = np.asarray(getattr(array, "values", array), dtype=float)
    return data.reshape(-1, data.shape[-1]).mean(axis=0) if data.ndim > 1 else data


def model_frame(rfm: pd.DataFrame) -> pd.DataFrame:
    """The library's input: integer customer ids (positions), frequency, recency, T."""
    return pd.DataFrame(
        {
            "customer_id": np.arange(len(rfm)),
            "frequency": rfm["FREQUENCY"].to_numpy(float),
            "recency": rfm["RECENCY"].to_numpy(float),
            "T": rfm["T"].to_numpy(float),
        }
    )


def fit_spend(rfm: pd.DataFrame) -> np.ndarray:
    """Gamma-Gamma expected spend per purchase day (repeat buyers with positive spend)."""
    from pymc_marketing import clv

    monetary = rfm["MONETARY_VALUE"].to_numpy(float)
    frequency = rfm["FREQUENCY"].to_numpy(float)
    repeat = (frequency > 0) & (monetary > 0)
    if repeat.sum() < MIN_REPEATERS:
        mean = float(monetary[repeat].mean()) if repeat.any() else 0.0
        return np.full(len(rfm), mean)
    fit_data = pd.DataFrame(
        {
            "customer_id": np.arange(int(repeat.sum())),
            "frequency": frequency[repeat],
            "monetary_value": monetary[repeat],
        }
    )
    model = clv.GammaGammaModel(data=fit_data)
    model.fit(method="map", progressbar=False)
    # Customers without repeat spend get the population mean (the model's prior mean).
    every = pd.DataFrame(
        {
            "customer_id": np.arange(len(rfm)),
            "frequency": np.where(repeat, frequency, 0.0),
            "monetary_value": np.where(repeat, monetary, 1.0),
        }
    )
    return values(model.expected_customer_spend(data=every))


def fit_bgnbd(rfm: pd.DataFrame, horizon_days: int) -> dict[str, np.ndarray]:
    """BG/NBD x Gamma-Gamma predictions for the next HORIZON_DAYS."""
    from pymc_marketing import clv

    model = clv.BetaGeoModel(data=model_frame(rfm))
    model.fit(method="map", progressbar=False)
    purchases = values(model.expected_purchases(future_t=horizon_days))
    spend = fit_spend(rfm)
    return {
        "BGNBD_P_ALIVE": values(model.expected_probability_alive()),
        "BGNBD_EXPECTED_PURCHASES": purchases,
        "BGNBD_P_NO_PURCHASE": values(model.expected_probability_no_purchase(t=horizon_days)),
        "GG_EXPECTED_SPEND": spend,
        "BGNBD_EXPECTED_VALUE": purchases * spend,
    }


def fit_pnbd(rfm: pd.DataFrame, horizon_days: int, spend: np.ndarray) -> dict[str, np.ndarray]:
    """Pareto/NBD x Gamma-Gamma predictions for the next HORIZON_DAYS."""
    from pymc_marketing import clv

    model = clv.ParetoNBDModel(data=model_frame(rfm))
    model.fit(method="map", progressbar=False)
    none = values(model.expected_purchase_probability(n_purchases=0, future_t=horizon_days))
    purchases = values(model.expected_purchases(future_t=horizon_days))
    return {"PNBD_P_NO_PURCHASE": none, "PNBD_EXPECTED_VALUE": purchases * spend}


def rfm_key(rfm: pd.DataFrame, horizon_days: int, pareto: bool) -> str:
    """A digest of everything a cut-off's fit depends on."""
    digest = hashlib.sha256(f"{horizon_days}|{pareto}|{len(rfm)}".encode())
    digest.update(np.ascontiguousarray(rfm.loc[:, list(RFM_COLUMNS)].to_numpy(float)).tobytes())
    return digest.hexdigest()


def predict_cutoff(rfm: pd.DataFrame, horizon_days: int, pareto: bool) -> pd.DataFrame:
    """BTYD columns for one cut-off's customers (RFM in days), from the cache when seen."""
    key = rfm_key(rfm, horizon_days, pareto)
    if key not in FIT_CACHE:
        if len(FIT_CACHE) >= FIT_CACHE_SIZE:
            FIT_CACHE.pop(next(iter(FIT_CACHE)))
        FIT_CACHE[key] = fit_cutoff(rfm, horizon_days, pareto)
    return FIT_CACHE[key].set_axis(rfm.index)


def fit_cutoff(rfm: pd.DataFrame, horizon_days: int, pareto: bool) -> pd.DataFrame:
    """Fit the models on one cut-off's customers; NaN columns where nobody came back."""
    out = pd.DataFrame(index=rfm.index, columns=list(BTYD_COLUMNS), dtype=float)
    if len(rfm) < 2 or not (rfm["FREQUENCY"] > 0).any():
        return out  # nobody has come back yet: the models have nothing to learn from
    with quiet():
        try:
            bg = fit_bgnbd(rfm, horizon_days)
        except Exception as exc:  # noqa: BLE001 - an optimiser failure is data, not a bug
            raise BTYDFitError(f"BG/NBD did not fit: {type(exc).__name__}: {exc}") from None
        for name, column in bg.items():
            out[name] = column
        if pareto:
            try:
                for name, column in fit_pnbd(rfm, horizon_days, bg["GG_EXPECTED_SPEND"]).items():
                    out[name] = column
            except Exception as exc:  # noqa: BLE001
                raise BTYDFitError(f"Pareto/NBD did not fit: {type(exc).__name__}: {exc}") from None
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
            predicted = predict_cutoff(group, horizon_days, as_of in pareto_cutoffs)
        except BTYDFitError as exc:
            problems.append(f"cut-off {as_of}: {exc}")
            predicted = pd.DataFrame(index=group.index, columns=list(BTYD_COLUMNS), dtype=float)
        frames.append(pd.concat([group[["CUSTOMER_ID", "AS_OF_DATE"]], predicted], axis=1))
    progress.advance("BTYD fits (cut-offs)", groups.ngroups, groups.ngroups)
    columns = ["CUSTOMER_ID", "AS_OF_DATE", *BTYD_COLUMNS]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return frame[columns], problems
