variable "name_prefix" {
  type        = string
  description = "Prefix for every resource name, e.g. lifeline-dev."
}

variable "github_repository" {
  type        = string
  description = "owner/name of the GitHub repository allowed to deploy through OIDC."
}

variable "github_oidc_provider_arn" {
  type        = string
  default     = null
  description = "ARN of an existing GitHub OIDC provider; null creates one (one per account)."
}

variable "data_retention_days" {
  type        = number
  default     = 400
  description = "Days before landing files and scoring exports expire (18 months of history plus slack)."
}

variable "noncurrent_version_days" {
  type        = number
  default     = 30
  description = "Days a replaced or deleted object version is kept for recovery."
}

variable "create_mlflow_server" {
  type        = bool
  default     = false
  description = "Create a SageMaker managed MLflow tracking server for the model registry."
}

variable "s3_prefix" {
  type        = string
  default     = "lifeline"
  description = "Key prefix the flows and training jobs write under (LIFELINE_S3_PREFIX)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags added to every resource."
}

variable "terraform_state_bucket" {
  type        = string
  description = "Bucket holding Terraform's state (TF_STATE_BUCKET): the deploy role reads and locks it."
}

variable "terraform_state_prefix" {
  type        = string
  description = "Key prefix of this environment's state and lock files (lifeline/<env>/)."
}
