-- Purpose: add each score's top reasons to ML.CUSTOMER_SCORES (older warehouses lack it):
--   JSON [{feature, value, effect, direction}], strongest first, computed at scoring time.
-- Grain: unchanged. Inputs: none. Outputs: ML.CUSTOMER_SCORES. Binds: none.
ALTER TABLE ml.customer_scores ADD COLUMN IF NOT EXISTS risk_reasons VARCHAR
