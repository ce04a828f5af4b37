-- Purpose: add the outcome of each load attempt to RAW.LOAD_MANIFEST (older warehouses
--   lack it): 'loaded', or 'rejected' when the file failed its checks and wrote nothing.
--   NULL (rows from before this column) means loaded.
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS status VARCHAR
