-- Purpose: create FEATURES.SNAPSHOT_DATES if missing.
-- Grain: one row per (FLOW_RUN_ID, AS_OF_DATE): the cut-offs one run builds.
-- Inputs: none. Outputs: FEATURES.SNAPSHOT_DATES. Binds: none.
CREATE TABLE IF NOT EXISTS features.snapshot_dates (
    flow_run_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    role VARCHAR NOT NULL
)
