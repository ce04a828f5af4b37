-- Purpose: add the source rows of each loaded file that policy left out to
--   RAW.LOAD_MANIFEST (rows without a customer id, under rows_without_customer = "skip"),
--   so a loaded file's rows are accounted for: ROW_COUNT loaded (transactions; an order-line
--   file's lines become one per order), ROWS_SKIPPED left out. NULL (rows from before this
--   column) means none were left out.
-- Grain: unchanged. Inputs: none. Outputs: RAW.LOAD_MANIFEST. Binds: none.
ALTER TABLE raw.load_manifest ADD COLUMN IF NOT EXISTS rows_skipped INTEGER
