-- Purpose: the table dashboards and campaign tools read: each customer's latest scores
--   beside the features and attributes they were scored on.
-- Grain: one row per CUSTOMER_ID (its latest AS_OF_DATE in ML.CUSTOMER_SCORES).
-- Inputs: ML.CUSTOMER_SCORES, FEATURES.CUSTOMER_FEATURES, RAW.CUSTOMERS.
-- Outputs: view ML.CUSTOMER_360. Binds: none.
CREATE OR REPLACE VIEW ml.customer_360 AS
WITH latest_scores AS (
    SELECT *
    FROM ml.customer_scores
    QUALIFY ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY as_of_date DESC) = 1
),

customers AS (
    SELECT
        customer_id,
        age,
        state,
        employment_status,
        card_type,
        credit_limit,
        account_open_date,
        segment
    FROM raw.customers
)

SELECT
    s.customer_id,
    s.as_of_date,
    s.churn_probability,
    s.churn_risk_score,
    s.risk_band,
    s.predicted_clv,
    s.expected_value_at_risk,
    s.value_tier,
    s.churn_model_version,
    s.clv_model_version,
    s.risk_reasons,
    s.scored_at,
    s.flow_run_id,
    c.state,
    c.employment_status,
    c.card_type,
    c.account_open_date,
    c.segment,
    f.recency_days,
    f.txn_count_90,
    f.spend_90,
    f.spend_360,
    f.spend_trend_90,
    f.tenure_days,
    f.decline_rate_90,
    f.utilisation_30
FROM latest_scores AS s
LEFT JOIN features.customer_features AS f
    ON s.customer_id = f.customer_id AND s.as_of_date = f.as_of_date
LEFT JOIN customers AS c
    ON s.customer_id = c.customer_id
