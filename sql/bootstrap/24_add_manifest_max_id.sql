-- Purpose: add the largest transaction id of each loaded file to RAW.LOAD_MANIFEST.
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS max_transaction_id VARCHAR
