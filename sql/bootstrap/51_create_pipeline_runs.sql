-- Purpose: create OPS.PIPELINE_RUNS if missing.
-- Grain: one row per flow run (FLOW_RUN_ID).
-- Inputs: none. Outputs: OPS.PIPELINE_RUNS. Binds: none.
CREATE TABLE IF NOT EXISTS ops.pipeline_runs (
    flow_run_id VARCHAR NOT NULL,
    flow_name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    parameters VARCHAR,
    row_counts VARCHAR,
    stage_seconds VARCHAR,
    error VARCHAR,
    started_at TIMESTAMP_NTZ,
    finished_at TIMESTAMP_NTZ
)
