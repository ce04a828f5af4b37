-- Purpose: create FEATURES.FEATURE_REGISTRY if missing.
-- Grain: one row per (FEATURE_NAME, VERSION).
-- Inputs: none. Outputs: FEATURES.FEATURE_REGISTRY. Binds: none.
CREATE TABLE IF NOT EXISTS features.feature_registry (
    feature_name VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    description VARCHAR,
    sql_hash VARCHAR,
    created_at TIMESTAMP_NTZ
)
