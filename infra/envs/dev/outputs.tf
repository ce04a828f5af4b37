output "lifeline_settings" {
  description = "Environment for the flows (LIFELINE_*), from this environment's resources."
  value       = module.lifeline.lifeline_settings
}

output "stage_name" {
  description = "External stage on the landing prefix."
  value       = module.lifeline.stage_name
}

output "models_stage" {
  description = "Internal stage for Snowpark-trained models (LIFELINE_SNOWPARK_STAGE)."
  value       = module.lifeline.models_stage
}

output "github_deploy_role_arn" {
  description = "Set as repository variable AWS_DEPLOY_ROLE_ARN."
  value       = module.lifeline.github_deploy_role_arn
}

output "image_repository_url" {
  description = "ECR repository of the flow image (the image workflow pushes <url>:<commit SHA>)."
  value       = module.lifeline.image_repository_url
}
