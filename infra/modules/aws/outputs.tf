output "bucket_name" {
  description = "Data bucket (landing files, training sets, model artifacts)."
  value       = aws_s3_bucket.data.bucket
}

output "bucket_arn" {
  description = "ARN of the data bucket."
  value       = aws_s3_bucket.data.arn
}

output "kms_key_arn" {
  description = "KMS key encrypting the bucket."
  value       = aws_kms_key.data.arn
}

output "sagemaker_role_arn" {
  description = "Execution role for SageMaker training jobs (LIFELINE_SAGEMAKER_ROLE_ARN)."
  value       = aws_iam_role.sagemaker.arn
}

output "github_deploy_role_arn" {
  description = "Role GitHub Actions assumes through OIDC (repository variable AWS_DEPLOY_ROLE_ARN)."
  value       = aws_iam_role.github_deploy.arn
}

output "mlflow_tracking_uri" {
  description = "ARN of the managed MLflow server (LIFELINE_MLFLOW_TRACKING_URI), or null."
  value       = try(aws_sagemaker_mlflow_tracking_server.registry[0].arn, null)
}

output "s3_prefix" {
  description = "Key prefix the flows and training jobs use (LIFELINE_S3_PREFIX)."
  value       = var.s3_prefix
}

output "image_repository_url" {
  description = "ECR repository of the flow image (ECS flows and SageMaker training)."
  value       = aws_ecr_repository.flows.repository_url
}
