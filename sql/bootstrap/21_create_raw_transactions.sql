-- Purpose: create RAW.TRANSACTIONS if missing.
-- Grain: one row per transaction (TRANSACTION_ID). TXN_TS is UTC without zone.
-- Inputs: none. Outputs: RAW.TRANSACTIONS. Binds: none.
CREATE TABLE IF NOT EXISTS raw.transactions (
    transaction_id VARCHAR NOT NULL,
    customer_id VARCHAR NOT NULL,
    txn_ts TIMESTAMP_NTZ NOT NULL,
    amount NUMBER(18, 2) NOT NULL,
    category VARCHAR,
    channel VARCHAR,
    status VARCHAR,
    load_id VARCHAR,
    flow_run_id VARCHAR
)
