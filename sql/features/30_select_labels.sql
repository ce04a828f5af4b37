-- Purpose: churn and future-value labels for every labelled snapshot of a run.
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE, HORIZON_DAYS) for every customer with an
--   approved purchase before T (the same population the features and the scores cover).
-- Rule: CHURNED = 1 if no approved purchase in [T, T + H), or (when :spend_drop_ratio > 0)
--   spend there is below :spend_drop_ratio x the spend in [T - H, T). FUTURE_VALUE = net
--   approved spend in [T, T + H). Only snapshots with T + H <= :as_of get labels.
-- Inputs: FEATURES.SNAPSHOT_DATES, FEATURES.CUSTOMER_PERIODS.
-- Outputs: rows for FEATURES.LABELS (the caller stages and publishes them).
-- Binds: :run_id, :as_of (DATE), :horizon_days (INTEGER), :spend_drop_ratio (FLOAT).
WITH snapshots AS (
    SELECT as_of_date
    FROM features.snapshot_dates
    WHERE
        flow_run_id = :run_id
        AND DATEADD(DAY, :horizon_days, as_of_date) <= :as_of
),

periods AS (
    SELECT customer_id, period_end, approved_count, spend FROM features.customer_periods
),

around AS (
    -- Periods end on the cut-off grid, so PERIOD_END <= T means "before T" exactly.
    SELECT
        snapshots.as_of_date,
        periods.*
    FROM snapshots
    INNER JOIN periods
        ON periods.period_end <= DATEADD(DAY, :horizon_days, snapshots.as_of_date)
),

per_customer AS (
    SELECT
        customer_id,
        as_of_date,
        SUM(IFF(period_end <= as_of_date, approved_count, 0)) AS lifetime_count,
        SUM(
            IFF(
                period_end <= as_of_date
                AND period_end > DATEADD(DAY, -:horizon_days, as_of_date),
                spend,
                0
            )
        ) AS baseline_value,
        SUM(IFF(period_end > as_of_date, spend, 0)) AS future_value,
        SUM(IFF(period_end > as_of_date, approved_count, 0)) AS future_count
    FROM around
    GROUP BY customer_id, as_of_date
)

SELECT
    customer_id,
    as_of_date,
    CAST(:horizon_days AS INTEGER) AS horizon_days,
    IFF(
        future_count = 0
        OR :spend_drop_ratio > 0 AND future_value < :spend_drop_ratio * baseline_value,
        1,
        0
    ) AS churned,
    CAST(future_value AS DOUBLE) AS future_value,
    CAST(baseline_value AS DOUBLE) AS baseline_value
FROM per_customer
WHERE lifetime_count > 0
