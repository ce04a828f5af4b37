-- Purpose: create ML.CUSTOMER_SCORES if missing.
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE).
-- Inputs: none. Outputs: ML.CUSTOMER_SCORES. Binds: none.
CREATE TABLE IF NOT EXISTS ml.customer_scores (
    customer_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    churn_probability FLOAT,
    churn_risk_score INTEGER,
    risk_band VARCHAR,
    predicted_clv FLOAT,
    expected_value_at_risk FLOAT,
    value_tier VARCHAR,
    churn_model_version VARCHAR,
    clv_model_version VARCHAR,
    scored_at TIMESTAMP_NTZ,
    flow_run_id VARCHAR
)
