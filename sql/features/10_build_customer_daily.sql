-- Purpose: aggregate every transaction before the run cut-off to customer-day, once, so
--   that many snapshots are built from a table several times smaller than the raw log.
-- Grain: one row per (CUSTOMER_ID, TXN_DATE).
-- Inputs: RAW.TRANSACTIONS. Outputs: FEATURES.CUSTOMER_DAILY (replaced).
-- Binds: :as_of (DATE) - only transactions with TXN_TS < :as_of are read.
CREATE OR REPLACE TABLE features.customer_daily AS
WITH transactions AS (
    SELECT
        customer_id,
        CAST(txn_ts AS DATE) AS txn_date,
        amount,  -- NUMBER(18, 2): exact sums, identical whatever the parallel order
        COALESCE(LOWER(status), 'approved') = 'approved' AS is_approved,
        LOWER(channel) AS channel,
        CASE
            WHEN category IN ('Airlines', 'Hotels', 'Car Rental', 'Travel Agencies')
                THEN 'travel'
            WHEN category IN (
                'Grocery', 'Gas', 'Utilities', 'Healthcare', 'Pharmacy', 'Insurance', 'Telecom'
            ) THEN 'necessities'
            WHEN category IN (
                'Restaurants', 'Entertainment', 'Streaming', 'Apparel', 'Electronics',
                'Home Improvement', 'Sporting Goods'
            ) THEN 'discretionary'
            ELSE 'other'
        END AS category_group
    FROM raw.transactions
    WHERE txn_ts < :as_of
),

daily AS (
    SELECT
        customer_id,
        txn_date,
        SUM(IFF(is_approved, 1, 0)) AS approved_count,
        SUM(IFF(is_approved, 0, 1)) AS declined_count,
        SUM(IFF(is_approved, amount, 0)) AS spend,
        SUM(IFF(is_approved AND category_group = 'travel', amount, 0)) AS travel_spend,
        SUM(IFF(is_approved AND category_group = 'necessities', amount, 0)) AS necessities_spend,
        SUM(IFF(is_approved AND category_group = 'discretionary', amount, 0))
            AS discretionary_spend,
        SUM(IFF(is_approved AND channel = 'online', 1, 0)) AS online_count,
        SUM(IFF(is_approved AND channel = 'mobile', 1, 0)) AS mobile_count,
        SUM(IFF(is_approved AND channel = 'in-store', 1, 0)) AS in_store_count
    FROM transactions
    GROUP BY customer_id, txn_date
)

SELECT
    daily.*,
    -- Gap to the previous day with an approved purchase: looks only backwards in time.
    IFF(
        approved_count > 0,
        DATEDIFF(
            DAY,
            LAG(txn_date) OVER (
                PARTITION BY customer_id, approved_count > 0 ORDER BY txn_date
            ),
            txn_date
        ),
        NULL
    ) AS gap_days
FROM daily
