-- Purpose: the "online" features - the most recent cut-off only - for scoring and dashboards.
-- Grain: one row per CUSTOMER_ID (the latest AS_OF_DATE in FEATURES.CUSTOMER_FEATURES).
-- Inputs: FEATURES.CUSTOMER_FEATURES. Outputs: view FEATURES.LATEST_CUSTOMER_FEATURES.
-- Binds: none.
CREATE OR REPLACE VIEW features.latest_customer_features AS
SELECT f.*
FROM features.customer_features AS f
WHERE f.as_of_date = (SELECT MAX(latest.as_of_date) FROM features.customer_features AS latest)
