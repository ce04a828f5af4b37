-- Purpose: create ML.DRIFT_METRICS if missing.
-- Grain: one row per (FLOW_RUN_ID, FEATURE_NAME).
-- Inputs: none. Outputs: ML.DRIFT_METRICS. Binds: none.
CREATE TABLE IF NOT EXISTS ml.drift_metrics (
    flow_run_id VARCHAR NOT NULL,
    feature_name VARCHAR NOT NULL,
    as_of_date DATE,
    reference_as_of_date DATE,
    psi FLOAT,
    drifted BOOLEAN,
    computed_at TIMESTAMP_NTZ
)
