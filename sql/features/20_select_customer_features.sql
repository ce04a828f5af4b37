-- Purpose: point-in-time features at one snapshot of a run (the caller runs each in turn).
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE) for every customer with an approved purchase
--   before AS_OF_DATE (within :lookback_days of it, unless that is 0): lapsed customers are
--   scored too, so the population is the whole customer base, not only the recently active.
-- Point in time: a row for AS_OF_DATE = T reads only periods ending on or before T, i.e.
--   transactions with TXN_TS < T. Windows are whole periods: "30" = the 30 days before T.
-- Inputs: FEATURES.SNAPSHOT_DATES, FEATURES.CUSTOMER_PERIODS, RAW.CUSTOMERS.
-- Outputs: rows for FEATURES.CUSTOMER_FEATURES (the caller stages and publishes them).
-- Binds: :run_id (VARCHAR), :as_of_date (DATE, one of the run's snapshots),
--   :lookback_days (INTEGER, 0 = no limit).
WITH snapshots AS (
    SELECT as_of_date
    FROM features.snapshot_dates
    WHERE flow_run_id = :run_id AND as_of_date = :as_of_date
),

periods AS (
    SELECT * FROM features.customer_periods
),

customers AS (
    SELECT customer_id, age, card_type, credit_limit, account_open_date FROM raw.customers
),

history AS (
    SELECT
        snapshots.as_of_date,
        periods.*,
        -- 0 for the period that ends at the cut-off, then multiples of the grid
        DATEDIFF(DAY, periods.period_end, snapshots.as_of_date) AS end_gap
    FROM snapshots
    INNER JOIN periods ON snapshots.as_of_date >= periods.period_end
),

per_customer AS (
    SELECT
        customer_id,
        as_of_date,
        DATEDIFF(DAY, MAX(last_purchase_date), as_of_date) AS recency_days,
        MIN(first_purchase_date) AS first_txn_date,
        SUM(IFF(end_gap < 30, approved_count, 0)) AS txn_count_30,
        SUM(IFF(end_gap < 90, approved_count, 0)) AS txn_count_90,
        SUM(IFF(end_gap < 180, approved_count, 0)) AS txn_count_180,
        SUM(IFF(end_gap < 360, approved_count, 0)) AS txn_count_360,
        SUM(approved_count) AS txn_count_lifetime,
        SUM(IFF(end_gap < 30, spend, 0)) AS spend_30,
        SUM(IFF(end_gap < 90, spend, 0)) AS spend_90,
        SUM(IFF(end_gap < 180, spend, 0)) AS spend_180,
        SUM(IFF(end_gap < 360, spend, 0)) AS spend_360,
        SUM(spend) AS spend_lifetime,
        SUM(IFF(end_gap >= 90 AND end_gap < 180, spend, 0)) AS spend_prior_90,
        MEDIAN(IFF(end_gap < 360, mean_ticket, NULL)) AS median_ticket_360,
        SUM(IFF(end_gap < 360, gap_sum, 0)) AS gap_sum_360,
        SUM(IFF(end_gap < 360, gap_sq_sum, 0)) AS gap_sq_sum_360,
        SUM(IFF(end_gap < 360, gap_count, 0)) AS gap_count_360,
        SUM(IFF(end_gap < 360, travel_spend, 0)) AS travel_spend_360,
        SUM(IFF(end_gap < 360, necessities_spend, 0)) AS necessities_spend_360,
        SUM(IFF(end_gap < 360, discretionary_spend, 0)) AS discretionary_spend_360,
        SUM(IFF(end_gap < 360, online_count, 0)) AS online_count_360,
        SUM(IFF(end_gap < 360, mobile_count, 0)) AS mobile_count_360,
        SUM(IFF(end_gap < 360, in_store_count, 0)) AS in_store_count_360,
        SUM(IFF(end_gap < 90, declined_count, 0)) AS declined_count_90,
        SUM(IFF(end_gap < 90, approved_count + declined_count, 0)) AS attempts_90
    FROM history
    GROUP BY customer_id, as_of_date
),

monthly AS (
    SELECT
        customer_id,
        as_of_date,
        SUM(spend) AS month_spend,
        SUM(approved_count) AS month_count
    FROM history
    WHERE end_gap < 360
    GROUP BY customer_id, as_of_date, FLOOR(end_gap / 30)
),

volatility AS (
    -- Twelve 30-day months, quiet months counting as zero spend.
    SELECT
        customer_id,
        as_of_date,
        SUM(month_spend * month_spend) AS sum_sq_month_spend,
        SUM(IFF(month_count > 0, 1, 0)) AS active_months_12
    FROM monthly
    GROUP BY customer_id, as_of_date
)

SELECT
    p.customer_id,
    p.as_of_date,
    -- Rounded to 6 decimals so a rebuild gives bit-identical values (parallel float sums
    -- differ in the last bits, which can flip a tree split).
    ROUND(p.recency_days, 6) AS recency_days,
    ROUND(p.txn_count_30, 6) AS txn_count_30,
    ROUND(p.txn_count_90, 6) AS txn_count_90,
    ROUND(p.txn_count_180, 6) AS txn_count_180,
    ROUND(p.txn_count_360, 6) AS txn_count_360,
    ROUND(p.txn_count_lifetime, 6) AS txn_count_lifetime,
    ROUND(p.spend_30, 6) AS spend_30,
    ROUND(p.spend_90, 6) AS spend_90,
    ROUND(p.spend_180, 6) AS spend_180,
    ROUND(p.spend_360, 6) AS spend_360,
    ROUND(p.spend_lifetime, 6) AS spend_lifetime,
    ROUND(p.spend_360 / NULLIF(p.txn_count_360, 0), 6) AS avg_ticket_360,
    ROUND(p.median_ticket_360, 6) AS median_ticket_360,
    ROUND((p.spend_90 - p.spend_prior_90) / NULLIF(ABS(p.spend_prior_90), 0), 6)
        AS spend_trend_90,
    ROUND(SQRT(GREATEST(
        (v.sum_sq_month_spend - p.spend_360 * p.spend_360 / 12) / 11, 0
    )), 6) AS monthly_spend_std_12,
    ROUND(p.gap_sum_360 / NULLIF(p.gap_count_360, 0), 6) AS interpurchase_mean_360,
    ROUND(SQRT(GREATEST(
        (p.gap_sq_sum_360 - p.gap_sum_360 * p.gap_sum_360 / NULLIF(p.gap_count_360, 0))
        / NULLIF(p.gap_count_360 - 1, 0),
        0
    )), 6) AS interpurchase_std_360,
    ROUND(COALESCE(v.active_months_12, 0), 6) AS active_months_12,
    ROUND(DATEDIFF(
        DAY, COALESCE(LEAST(c.account_open_date, p.first_txn_date), p.first_txn_date),
        p.as_of_date
    ), 6) AS tenure_days,
    ROUND(p.travel_spend_360 / NULLIF(p.spend_360, 0), 6) AS travel_share_360,
    ROUND(p.necessities_spend_360 / NULLIF(p.spend_360, 0), 6) AS necessities_share_360,
    ROUND(p.discretionary_spend_360 / NULLIF(p.spend_360, 0), 6) AS discretionary_share_360,
    ROUND(p.online_count_360 / NULLIF(p.txn_count_360, 0), 6) AS online_share_360,
    ROUND(p.mobile_count_360 / NULLIF(p.txn_count_360, 0), 6) AS mobile_share_360,
    ROUND(p.in_store_count_360 / NULLIF(p.txn_count_360, 0), 6) AS in_store_share_360,
    ROUND(p.declined_count_90 / NULLIF(p.attempts_90, 0), 6) AS decline_rate_90,
    ROUND(p.spend_30 / NULLIF(c.credit_limit, 0), 6) AS utilisation_30,
    ROUND(c.credit_limit, 6) AS credit_limit,
    ROUND(c.age, 6) AS age,
    ROUND(IFF(c.card_type = 'Premium', 1, 0), 6) AS is_premium
FROM per_customer AS p
LEFT JOIN volatility AS v
    ON p.customer_id = v.customer_id AND p.as_of_date = v.as_of_date
LEFT JOIN customers AS c
    ON p.customer_id = c.customer_id
WHERE
    p.txn_count_lifetime > 0
    AND (:lookback_days = 0 OR p.recency_days <= :lookback_days)
