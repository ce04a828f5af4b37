-- Purpose: create OPS.QUALITY_RESULTS if missing.
-- Grain: one row per (FLOW_RUN_ID, SUITE_NAME, DATASET) validation.
-- Inputs: none. Outputs: OPS.QUALITY_RESULTS. Binds: none.
CREATE TABLE IF NOT EXISTS ops.quality_results (
    flow_run_id VARCHAR,
    suite_name VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    success BOOLEAN NOT NULL,
    severity VARCHAR,
    evaluated_expectations INTEGER,
    failed_expectations INTEGER,
    failed_names VARCHAR,
    unexpected_examples VARCHAR,
    validated_at TIMESTAMP_NTZ
)
