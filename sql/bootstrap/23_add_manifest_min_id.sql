-- Purpose: add the smallest transaction id of each loaded file to RAW.LOAD_MANIFEST
--   (older warehouses lack it); with MAX_TRANSACTION_ID it lets a new file skip the
--   duplicate check against loads whose id ranges cannot overlap.
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS min_transaction_id VARCHAR
