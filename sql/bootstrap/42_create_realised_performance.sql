-- Purpose: create ML.REALISED_PERFORMANCE if missing: past scores judged on what the
--   customers then did, once the horizon after the scoring date has passed.
-- Grain: one row per scoring date (AS_OF_DATE), merged by it (a re-run rewrites the row).
-- Inputs: none. Outputs: ML.REALISED_PERFORMANCE. Binds: none.
CREATE TABLE IF NOT EXISTS ml.realised_performance (
    as_of_date DATE NOT NULL,
    horizon_days INTEGER,
    customers INTEGER,
    churn_rate FLOAT,
    roc_auc FLOAT,
    ece FLOAT,
    holdout_roc_auc FLOAT,
    holdout_ece FLOAT,
    predicted_value FLOAT,
    actual_value FLOAT,
    clv_spearman FLOAT,
    churn_model_version VARCHAR,
    degraded BOOLEAN,
    reason VARCHAR,
    evaluated_at TIMESTAMP_NTZ,
    flow_run_id VARCHAR
)
