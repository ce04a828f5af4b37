output "database" {
  description = "Database name (LIFELINE_SNOWFLAKE_DATABASE)."
  value       = snowflake_database.lifeline.name
}

output "warehouse" {
  description = "Warehouse name (LIFELINE_SNOWFLAKE_WAREHOUSE)."
  value       = snowflake_warehouse.pipeline.name
}

output "service_user" {
  description = "Prefect service user (LIFELINE_SNOWFLAKE_USER)."
  value       = snowflake_service_user.prefect.name
}

output "pipeline_role" {
  description = "Role the flows run as (LIFELINE_SNOWFLAKE_ROLE)."
  value       = snowflake_account_role.this["ML"].name
}

output "stage_name" {
  description = "External stage on the landing prefix."
  value       = snowflake_stage.landing.fully_qualified_name
}

output "landing_stage" {
  description = "The external stage as SCHEMA.NAME in the database (LIFELINE_SNOWFLAKE_LANDING_STAGE)."
  value       = "${snowflake_stage.landing.schema}.${snowflake_stage.landing.name}"
}

output "landing_url" {
  description = "The s3:// URL the external stage reads (LIFELINE_SNOWFLAKE_LANDING_URL)."
  value       = snowflake_stage.landing.url
}

output "models_stage" {
  description = "Internal stage for Snowpark-trained models (LIFELINE_SNOWPARK_STAGE, with @)."
  value       = "@${snowflake_stage.models.fully_qualified_name}"
}

output "storage_aws_iam_user_arn" {
  description = "IAM user Snowflake uses for the storage integration (trusted by the AWS role)."
  value       = snowflake_storage_integration.landing.storage_aws_iam_user_arn
}

output "storage_aws_external_id" {
  description = "External id the AWS role requires from Snowflake."
  value       = snowflake_storage_integration.landing.storage_aws_external_id
}
