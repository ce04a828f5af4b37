-- Purpose: create RAW.LOAD_MANIFEST if missing.
-- Grain: one row per loaded source file, keyed by its content hash (LOAD_ID).
-- Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
CREATE TABLE IF NOT EXISTS raw.load_manifest (
    load_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    source_uri VARCHAR,
    row_count INTEGER,
    loaded_at TIMESTAMP_NTZ,
    flow_run_id VARCHAR
)
