-- Purpose: point-in-time features for every snapshot of a run.
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE) for customers with an approved purchase in
--   the :active_days before AS_OF_DATE (the active population; others get no row).
-- Point in time: a row for AS_OF_DATE = T reads only days with TXN_DATE < T.
-- Inputs: FEATURES.SNAPSHOT_DATES, FEATURES.CUSTOMER_DAILY, RAW.CUSTOMERS.
-- Outputs: rows for FEATURES.CUSTOMER_FEATURES (the caller stages and publishes them).
-- Binds: :run_id (VARCHAR), :active_days (INTEGER).
WITH snapshots AS (
    SELECT as_of_date FROM features.snapshot_dates WHERE flow_run_id = :run_id
),

daily AS (
    SELECT * FROM features.customer_daily
),

customers AS (
    SELECT customer_id, age, card_type, credit_limit, account_open_date FROM raw.customers
),

history AS (
    SELECT
        snapshots.as_of_date,
        daily.*,
        DATEDIFF(DAY, daily.txn_date, snapshots.as_of_date) AS days_before
    FROM snapshots
    INNER JOIN daily ON daily.txn_date < snapshots.as_of_date
),

per_customer AS (
    SELECT
        customer_id,
        as_of_date,
        MIN(IFF(approved_count > 0, days_before, NULL)) AS recency_days,
        MIN(txn_date) AS first_txn_date,
        SUM(IFF(days_before <= 30, approved_count, 0)) AS txn_count_30,
        SUM(IFF(days_before <= 90, approved_count, 0)) AS txn_count_90,
        SUM(IFF(days_before <= 180, approved_count, 0)) AS txn_count_180,
        SUM(IFF(days_before <= 365, approved_count, 0)) AS txn_count_365,
        SUM(approved_count) AS txn_count_lifetime,
        SUM(IFF(days_before <= 30, spend, 0)) AS spend_30,
        SUM(IFF(days_before <= 90, spend, 0)) AS spend_90,
        SUM(IFF(days_before <= 180, spend, 0)) AS spend_180,
        SUM(IFF(days_before <= 365, spend, 0)) AS spend_365,
        SUM(spend) AS spend_lifetime,
        SUM(IFF(days_before > 90 AND days_before <= 180, spend, 0)) AS spend_prior_90,
        MEDIAN(IFF(days_before <= 365 AND approved_count > 0, spend / approved_count, NULL))
            AS median_ticket_365,
        -- Integer sums (not AVG/STDDEV of floats) keep these exact in any parallel order.
        SUM(IFF(days_before <= 365, gap_days, NULL)) AS gap_sum_365,
        SUM(IFF(days_before <= 365, gap_days * gap_days, NULL)) AS gap_sq_sum_365,
        COUNT(IFF(days_before <= 365, gap_days, NULL)) AS gap_count_365,
        COUNT(DISTINCT IFF(
            days_before <= 360 AND approved_count > 0, FLOOR((days_before - 1) / 30), NULL
        )) AS active_months_12,
        SUM(IFF(days_before <= 365, travel_spend, 0)) AS travel_spend_365,
        SUM(IFF(days_before <= 365, necessities_spend, 0)) AS necessities_spend_365,
        SUM(IFF(days_before <= 365, discretionary_spend, 0)) AS discretionary_spend_365,
        SUM(IFF(days_before <= 365, online_count, 0)) AS online_count_365,
        SUM(IFF(days_before <= 365, mobile_count, 0)) AS mobile_count_365,
        SUM(IFF(days_before <= 365, in_store_count, 0)) AS in_store_count_365,
        SUM(IFF(days_before <= 90, declined_count, 0)) AS declined_count_90,
        SUM(IFF(days_before <= 90, approved_count + declined_count, 0)) AS attempts_90,
        SUM(IFF(days_before <= 360, spend, 0)) AS spend_360,
        SUM(IFF(days_before <= :active_days, approved_count, 0)) AS active_window_count
    FROM history
    GROUP BY customer_id, as_of_date
),

monthly AS (
    SELECT
        customer_id,
        as_of_date,
        FLOOR((days_before - 1) / 30) AS month_index,
        SUM(spend) AS month_spend
    FROM history
    WHERE days_before <= 360
    GROUP BY customer_id, as_of_date, FLOOR((days_before - 1) / 30)
),

volatility AS (
    -- Twelve 30-day months, quiet months counting as zero spend.
    SELECT
        customer_id,
        as_of_date,
        SUM(month_spend * month_spend) AS sum_sq_month_spend
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
    ROUND(p.txn_count_365, 6) AS txn_count_365,
    ROUND(p.txn_count_lifetime, 6) AS txn_count_lifetime,
    ROUND(p.spend_30, 6) AS spend_30,
    ROUND(p.spend_90, 6) AS spend_90,
    ROUND(p.spend_180, 6) AS spend_180,
    ROUND(p.spend_365, 6) AS spend_365,
    ROUND(p.spend_lifetime, 6) AS spend_lifetime,
    ROUND(p.spend_365 / NULLIF(p.txn_count_365, 0), 6) AS avg_ticket_365,
    ROUND(p.median_ticket_365, 6) AS median_ticket_365,
    ROUND((p.spend_90 - p.spend_prior_90) / NULLIF(ABS(p.spend_prior_90), 0), 6)
        AS spend_trend_90,
    ROUND(SQRT(GREATEST(
        (v.sum_sq_month_spend - p.spend_360 * p.spend_360 / 12) / 11, 0
    )), 6) AS monthly_spend_std_12,
    ROUND(p.gap_sum_365 / NULLIF(p.gap_count_365, 0), 6) AS interpurchase_mean_365,
    ROUND(SQRT(GREATEST(
        (p.gap_sq_sum_365 - p.gap_sum_365 * p.gap_sum_365 / NULLIF(p.gap_count_365, 0))
        / NULLIF(p.gap_count_365 - 1, 0),
        0
    )), 6) AS interpurchase_std_365,
    ROUND(p.active_months_12, 6) AS active_months_12,
    ROUND(DATEDIFF(
        DAY, COALESCE(LEAST(c.account_open_date, p.first_txn_date), p.first_txn_date),
        p.as_of_date
    ), 6) AS tenure_days,
    ROUND(p.travel_spend_365 / NULLIF(p.spend_365, 0), 6) AS travel_share_365,
    ROUND(p.necessities_spend_365 / NULLIF(p.spend_365, 0), 6) AS necessities_share_365,
    ROUND(p.discretionary_spend_365 / NULLIF(p.spend_365, 0), 6) AS discretionary_share_365,
    ROUND(p.online_count_365 / NULLIF(p.txn_count_365, 0), 6) AS online_share_365,
    ROUND(p.mobile_count_365 / NULLIF(p.txn_count_365, 0), 6) AS mobile_share_365,
    ROUND(p.in_store_count_365 / NULLIF(p.txn_count_365, 0), 6) AS in_store_share_365,
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
WHERE p.active_window_count > 0
