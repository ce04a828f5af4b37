-- Purpose: add each load's object version to RAW.LOAD_MANIFEST (older warehouses lack it):
--   S3's ETag, size and last-modified time, so an hourly listing skips unchanged objects
--   without downloading them. NULL for local files, which are hashed instead.
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS source_version VARCHAR
