-- Purpose: add why a load was rejected to RAW.LOAD_MANIFEST (older warehouses lack it).
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS reason VARCHAR
