-- Purpose: the BTYD summary (frequency, recency, T, monetary value) of every customer at
--   every cut-off of a run, in days, counting purchase days as the textbook models do.
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE) for customers with an approved purchase
--   before AS_OF_DATE.
-- Point in time: a row for AS_OF_DATE = T reads only periods ending on or before T.
-- Inputs: FEATURES.SNAPSHOT_DATES, FEATURES.CUSTOMER_PERIODS.
-- Outputs: rows the features step fits BG/NBD, Pareto/NBD and Gamma-Gamma on.
-- Binds: :run_id (VARCHAR).
WITH snapshots AS (
    SELECT as_of_date
    FROM features.snapshot_dates
    WHERE flow_run_id = :run_id
),

history AS (
    SELECT
        snapshots.as_of_date,
        periods.*
    FROM snapshots
    INNER JOIN features.customer_periods AS periods
        ON snapshots.as_of_date >= periods.period_end
),

per_customer AS (
    SELECT
        customer_id,
        as_of_date,
        SUM(purchase_days) AS purchase_days,
        SUM(spend) AS spend,
        SUM(first_day_spend) AS first_day_spend,
        MIN(first_purchase_date) AS first_date,
        MAX(last_purchase_date) AS last_date
    FROM history
    GROUP BY customer_id, as_of_date
)

SELECT
    customer_id,
    as_of_date,
    purchase_days - 1 AS frequency,
    DATEDIFF(DAY, first_date, last_date) AS recency,
    DATEDIFF(DAY, first_date, as_of_date) AS t,
    CAST((spend - first_day_spend) AS DOUBLE) / NULLIF(purchase_days - 1, 0) AS monetary_value
FROM per_customer
WHERE purchase_days > 0
ORDER BY as_of_date, customer_id
