output "lifeline_settings" {
  description = "Environment for the flows (LIFELINE_*), from this environment's resources."
  value = {
    LIFELINE_TARGET              = "snowflake"
    LIFELINE_S3_BUCKET           = module.aws.bucket_name
    LIFELINE_S3_PREFIX           = module.aws.s3_prefix
    LIFELINE_SAGEMAKER_ROLE_ARN  = module.aws.sagemaker_role_arn
    LIFELINE_SNOWFLAKE_DATABASE  = module.snowflake.database
    LIFELINE_SNOWFLAKE_WAREHOUSE = module.snowflake.warehouse
    LIFELINE_SNOWFLAKE_ROLE      = module.snowflake.pipeline_role
    LIFELINE_SNOWFLAKE_USER      = module.snowflake.service_user
    LIFELINE_SNOWPARK_STAGE      = module.snowflake.models_stage
    # Files under the landing URL load by COPY INTO from the external stage.
    LIFELINE_SNOWFLAKE_LANDING_STAGE = module.snowflake.landing_stage
    LIFELINE_SNOWFLAKE_LANDING_URL   = module.snowflake.landing_url
    LIFELINE_MLFLOW_TRACKING_URI     = var.mlflow_tracking_uri != "" ? var.mlflow_tracking_uri : module.aws.mlflow_tracking_uri
  }
}

output "stage_name" {
  description = "External stage on the landing prefix."
  value       = module.snowflake.stage_name
}

output "models_stage" {
  description = "Internal stage for Snowpark-trained models (LIFELINE_SNOWPARK_STAGE)."
  value       = module.snowflake.models_stage
}

output "github_deploy_role_arn" {
  description = "Set as repository variable AWS_DEPLOY_ROLE_ARN."
  value       = module.aws.github_deploy_role_arn
}

output "image_repository_url" {
  description = "ECR repository the image workflow pushes the flow image to (tag: commit SHA)."
  value       = module.aws.image_repository_url
}
