-- Purpose: one pass over the transactions before the run cut-off, down to customer x
--   period, where periods are :grid_days-day slices ending on a grid anchored at :as_of.
--   Every snapshot cut-off of a run lies on that grid, so each snapshot reads this small
--   table (customers x periods) instead of rescanning the transactions.
-- Grain: one row per (CUSTOMER_ID, PERIOD_END); PERIOD_END is exclusive: the period
--   covers [PERIOD_END - :grid_days, PERIOD_END).
-- Inputs: RAW.TRANSACTIONS. Outputs: FEATURES.CUSTOMER_PERIODS (replaced).
-- Binds: :as_of (DATE) - only TXN_TS < :as_of is read; :grid_days (INTEGER, 1 to 30: the
--   grid divides 30).
-- Cost: one pass from transactions straight to periods, plus a narrow pass for each
--   customer's first purchase day. The inter-purchase gaps need no customer x day table:
--   each period records its purchase days as a bit mask (bit i = day i of the period), and
--   the gaps inside a period come from two lookups of its 15-bit halves in a 32,768-row
--   table of every half mask's purchase days and squared gaps. The per-row work is numeric:
--   channel and category become small codes once, the period is an integer until after the
--   GROUP BY, and counts are COUNT_IF (tier L: 6.9 s -> 5.8 s, identical rows).
CREATE OR REPLACE TABLE features.customer_periods AS
WITH RECURSIVE bit_offsets AS (
    SELECT bit
    FROM (
        VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14)
    ) AS v (bit)
),

-- Every non-empty 15-bit mask once, built by adding bits above its highest one: its
-- purchase days, lowest and highest day, and the sum of squared gaps between its days.
half_masks (mask, days, first_bit, last_bit, gap_sq) AS (
    SELECT
        CAST(POWER(2, bit) AS INTEGER) AS mask,
        1 AS days,
        bit AS first_bit,
        bit AS last_bit,
        0 AS gap_sq
    FROM bit_offsets
    UNION ALL
    SELECT
        h.mask + CAST(POWER(2, b.bit) AS INTEGER),
        h.days + 1,
        h.first_bit,
        b.bit,
        h.gap_sq + (b.bit - h.last_bit) * (b.bit - h.last_bit)
    FROM half_masks AS h
    INNER JOIN bit_offsets AS b ON h.last_bit < b.bit
),

-- Category -> spend group (1 travel, 2 necessities, 3 discretionary; others 0). A join
-- to this small table costs a quarter of the same CASE of IN lists per row (tier L: 0.3 s
-- vs 1.2 s for a pass over 60 M rows).
category_groups AS (
    SELECT
        category,
        category_group
    FROM (
        VALUES
        ('Airlines', 1), ('Hotels', 1), ('Car Rental', 1), ('Travel Agencies', 1),
        ('Grocery', 2), ('Gas', 2), ('Utilities', 2), ('Healthcare', 2), ('Pharmacy', 2),
        ('Insurance', 2), ('Telecom', 2),
        ('Restaurants', 3), ('Entertainment', 3), ('Streaming', 3), ('Apparel', 3),
        ('Electronics', 3), ('Home Improvement', 3), ('Sporting Goods', 3)
    ) AS v (category, category_group)
),

first_days AS (
    -- Each customer's first purchase day: BTYD spend excludes it.
    SELECT
        customer_id,
        CAST(MIN(txn_ts) AS DATE) AS first_date
    FROM raw.transactions
    WHERE txn_ts < :as_of AND COALESCE(LOWER(status), 'approved') = 'approved'
    GROUP BY 1
),

periods AS (
    SELECT
        t.customer_id,
        t.period,
        COUNT_IF(t.is_approved) AS approved_count,
        COUNT_IF(NOT t.is_approved) AS declined_count,
        -- NUMBER(18, 2): exact sums, identical whatever the parallel order
        SUM(IFF(t.is_approved, t.amount, 0)) AS spend,
        SUM(IFF(t.is_approved AND t.category_group = 1, t.amount, 0)) AS travel_spend,
        SUM(IFF(t.is_approved AND t.category_group = 2, t.amount, 0)) AS necessities_spend,
        SUM(IFF(t.is_approved AND t.category_group = 3, t.amount, 0)) AS discretionary_spend,
        COUNT_IF(t.is_approved AND t.channel = 1) AS online_count,
        COUNT_IF(t.is_approved AND t.channel = 2) AS mobile_count,
        COUNT_IF(t.is_approved AND t.channel = 3) AS in_store_count,
        MAX(IFF(t.is_approved, t.txn_date, NULL)) AS last_purchase_date,
        MIN(IFF(t.is_approved, t.txn_date, NULL)) AS first_purchase_date,
        SUM(IFF(t.is_approved AND t.txn_date = f.first_date, t.amount, 0)) AS first_day_spend,
        -- Bit (:grid_days - 1 - days into the grid step) marks the purchase day in the period.
        BITOR_AGG(IFF(t.is_approved, BITSHIFTLEFT(1, t.day_bit), 0)) AS day_mask
    FROM (
        SELECT
            r.customer_id,
            r.amount,
            r.txn_date,
            CAST(FLOOR((r.days_before - 1) / :grid_days) AS INTEGER) AS period,
            :grid_days - 1 - MOD(r.days_before - 1, :grid_days) AS day_bit,
            r.is_approved,
            CASE LOWER(r.channel)
                WHEN 'online' THEN 1
                WHEN 'mobile' THEN 2
                WHEN 'in-store' THEN 3
                ELSE 0
            END AS channel,
            COALESCE(g.category_group, 0) AS category_group
        FROM (
            SELECT
                customer_id,
                amount,
                channel,
                category,
                CAST(txn_ts AS DATE) AS txn_date,
                DATEDIFF(DAY, CAST(txn_ts AS DATE), :as_of) AS days_before,
                COALESCE(LOWER(status), 'approved') = 'approved' AS is_approved
            FROM raw.transactions
            WHERE txn_ts < :as_of
        ) AS r
        LEFT JOIN category_groups AS g ON r.category = g.category
    ) AS t
    LEFT JOIN first_days AS f ON t.customer_id = f.customer_id
    GROUP BY 1, 2
),

with_gaps AS (
    SELECT
        p.*,
        COALESCE(lo.days, 0) + COALESCE(hi.days, 0) AS purchase_days,
        COALESCE(lo.gap_sq, 0) + COALESCE(hi.gap_sq, 0)
        + COALESCE((hi.first_bit + 15 - lo.last_bit) * (hi.first_bit + 15 - lo.last_bit), 0)
            AS inner_gap_sq,
        -- The gap into this period, from the last purchase day of an earlier one.
        DATEDIFF(
            DAY,
            MAX(p.last_purchase_date) OVER (
                PARTITION BY p.customer_id ORDER BY p.period_end
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ),
            p.first_purchase_date
        ) AS entry_gap
    FROM (
        SELECT *, DATEADD(DAY, -:grid_days * period, :as_of) AS period_end FROM periods
    ) AS p
    LEFT JOIN half_masks AS lo ON MOD(p.day_mask, 32768) = lo.mask
    LEFT JOIN half_masks AS hi ON CAST(FLOOR(p.day_mask / 32768) AS INTEGER) = hi.mask
)

SELECT
    customer_id,
    CAST(period_end AS DATE) AS period_end,
    approved_count,
    declined_count,
    spend,
    travel_spend,
    necessities_spend,
    discretionary_spend,
    online_count,
    mobile_count,
    in_store_count,
    last_purchase_date,
    first_purchase_date,
    purchase_days,
    first_day_spend,
    -- The gaps ending in this period: between its own purchase days, and the one into it.
    NULLIF(
        DATEDIFF(DAY, first_purchase_date, last_purchase_date) + COALESCE(entry_gap, 0), 0
    ) AS gap_sum,
    NULLIF(inner_gap_sq + COALESCE(entry_gap * entry_gap, 0), 0) AS gap_sq_sum,
    GREATEST(purchase_days - 1, 0) + IFF(entry_gap IS NULL, 0, 1) AS gap_count,
    -- The period's mean ticket: one row per period, so no per-day amounts are needed.
    CAST(spend AS DOUBLE) / NULLIF(approved_count, 0) AS mean_ticket
FROM with_gaps
