"""The feature catalogue: names and meanings, importable anywhere (no dependencies).

Model code (and the SageMaker and Snowpark bundles) import this, never tasks.features,
which brings the warehouse and sqlglot with it.
"""

FEATURE_DEFINITIONS = {
    "RECENCY_DAYS": "Days since the last approved purchase before the cut-off.",
    "TXN_COUNT_30": "Approved purchases in the 30 days before the cut-off.",
    "TXN_COUNT_90": "Approved purchases in the 90 days before the cut-off.",
    "TXN_COUNT_180": "Approved purchases in the 180 days before the cut-off.",
    "TXN_COUNT_360": "Approved purchases in the 360 days (twelve 30-day months) before.",
    "TXN_COUNT_LIFETIME": "Approved purchases ever before the cut-off.",
    "SPEND_30": "Net approved spend (refunds negative) in the last 30 days.",
    "SPEND_90": "Net approved spend in the last 90 days.",
    "SPEND_180": "Net approved spend in the last 180 days.",
    "SPEND_360": "Net approved spend in the last 360 days.",
    "SPEND_LIFETIME": "Net approved spend ever before the cut-off.",
    "AVG_TICKET_360": "Average net ticket over the last 360 days.",
    "MEDIAN_TICKET_360": "Median over the last twelve periods of the mean daily ticket.",
    "SPEND_TREND_90": "Spend change, last 90 days vs the 90 before (fraction).",
    "MONTHLY_SPEND_STD_12": "Std of spend over twelve 30-day months (quiet months = 0).",
    "INTERPURCHASE_MEAN_360": "Mean days between purchase days, for gaps ending in 360 days.",
    "INTERPURCHASE_STD_360": "Std of days between purchase days, for gaps ending in 360 days.",
    "ACTIVE_MONTHS_12": "30-day months with a purchase, of the last twelve.",
    "TENURE_DAYS": "Days since account opening (or first purchase if earlier/unknown).",
    "TRAVEL_SHARE_360": "Share of 360-day spend on travel categories.",
    "NECESSITIES_SHARE_360": "Share of 360-day spend on necessities.",
    "DISCRETIONARY_SHARE_360": "Share of 360-day spend on discretionary categories.",
    "ONLINE_SHARE_360": "Share of 360-day purchases made online.",
    "MOBILE_SHARE_360": "Share of 360-day purchases made on mobile.",
    "IN_STORE_SHARE_360": "Share of 360-day purchases made in store.",
    "DECLINE_RATE_90": "Declined share of attempts in the last 90 days.",
    "UTILISATION_30": "30-day spend over the credit limit (null when unknown).",
    "CREDIT_LIMIT": "Credit limit from the customer file.",
    "AGE": "Customer age from the customer file.",
    "IS_PREMIUM": "1 for a Premium card, else 0.",
    "BGNBD_P_ALIVE": "BG/NBD probability the customer is still alive (fit at the cut-off).",
    "BGNBD_EXPECTED_PURCHASES": "BG/NBD expected purchase days in the horizon.",
    "BGNBD_P_NO_PURCHASE": "BG/NBD probability of no purchase in the horizon.",
    "GG_EXPECTED_SPEND": "Gamma-Gamma expected spend per purchase day.",
    "BGNBD_EXPECTED_VALUE": "BG/NBD x Gamma-Gamma expected spend in the horizon.",
}
FEATURE_NAMES = tuple(FEATURE_DEFINITIONS)
# Features that grow with time by construction: drift compares them per day of tenure
# (TENURE_DAYS itself is then left out), so a healthy older portfolio raises no alarm.
CUMULATIVE_FEATURES = ("TXN_COUNT_LIFETIME", "SPEND_LIFETIME", "TENURE_DAYS")
# Totals over a trailing window (days): while a customer's history is shorter than the window
# they grow by construction, so drift compares them per observed day (see tasks/drift.py).
WINDOW_TOTALS = {
    "TXN_COUNT_30": 30,
    "TXN_COUNT_90": 90,
    "TXN_COUNT_180": 180,
    "TXN_COUNT_360": 360,
    "SPEND_30": 30,
    "SPEND_90": 90,
    "SPEND_180": 180,
    "SPEND_360": 360,
}
# Counts of periods with a purchase, as (periods, days per period): drift compares them only
# when most customers' history covers the whole window.
WINDOW_PERIODS = {"ACTIVE_MONTHS_12": (12, 30)}
# Probabilities: drift compares them in whole percentage points, as the risk score shows
# them. Deciles of a probability most customers have near 1 are a few ten-thousandths
# apart, and a refit moving them (P(alive) 0.9989 -> 0.9986) is not drift.
PROBABILITY_FEATURES = ("BGNBD_P_ALIVE", "BGNBD_P_NO_PURCHASE")
# Pareto/NBD is fitted at the holdout and scoring cut-offs only: a baseline, not a feature.
BASELINE_COLUMNS = {
    "PNBD_P_NO_PURCHASE": "Pareto/NBD probability of no purchase in the horizon.",
    "PNBD_EXPECTED_VALUE": "Pareto/NBD x Gamma-Gamma expected spend in the horizon.",
}
# Features that need more than customer id, timestamp and amount: what each one reads.
FEATURE_SOURCES = {
    "DECLINE_RATE_90": "status",
    "TRAVEL_SHARE_360": "category",
    "NECESSITIES_SHARE_360": "category",
    "DISCRETIONARY_SHARE_360": "category",
    "ONLINE_SHARE_360": "channel",
    "MOBILE_SHARE_360": "channel",
    "IN_STORE_SHARE_360": "channel",
    "UTILISATION_30": "credit_limit",
    "CREDIT_LIMIT": "credit_limit",
    "AGE": "age",
    "IS_PREMIUM": "card_type",
    "BGNBD_P_ALIVE": "btyd",
    "BGNBD_EXPECTED_PURCHASES": "btyd",
    "BGNBD_P_NO_PURCHASE": "btyd",
    "GG_EXPECTED_SPEND": "btyd",
    "BGNBD_EXPECTED_VALUE": "btyd",
}
