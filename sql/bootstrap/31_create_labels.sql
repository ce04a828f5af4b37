-- Purpose: create FEATURES.LABELS if missing.
-- Grain: one row per (CUSTOMER_ID, AS_OF_DATE, HORIZON_DAYS).
-- Inputs: none. Outputs: FEATURES.LABELS. Binds: none.
CREATE TABLE IF NOT EXISTS features.labels (
    customer_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    horizon_days INTEGER NOT NULL,
    churned INTEGER NOT NULL,
    future_value FLOAT NOT NULL,
    baseline_value FLOAT,
    flow_run_id VARCHAR
)
