-- Purpose: create RAW.CUSTOMERS if missing.
-- Grain: one row per customer (CUSTOMER_ID).
-- Inputs: none. Outputs: RAW.CUSTOMERS. Binds: none.
CREATE TABLE IF NOT EXISTS raw.customers (
    customer_id VARCHAR NOT NULL,
    age INTEGER,
    state VARCHAR,
    employment_status VARCHAR,
    card_type VARCHAR,
    credit_limit NUMBER(18, 2),
    account_open_date DATE,
    segment VARCHAR,
    load_id VARCHAR,
    flow_run_id VARCHAR,
    loaded_at TIMESTAMP_NTZ
)
