variable "aws_region" {
  type        = string
  default     = "us-east-1"
  description = "AWS region for the bucket, roles and SageMaker jobs."
}

variable "github_repository" {
  type        = string
  default     = "lifeline-ml/lifeline"
  description = "owner/name of the repository whose workflows may deploy."
}

variable "snowflake_organization_name" {
  type        = string
  description = "Snowflake organization name."
}

variable "snowflake_account_name" {
  type        = string
  description = "Snowflake account name within the organization."
}

variable "snowflake_user" {
  type        = string
  description = "Snowflake user Terraform authenticates as (key-pair auth)."
}

variable "prefect_user_rsa_public_key" {
  type        = string
  description = "RSA public key of the Prefect service user."
}

variable "monthly_credit_quota" {
  type        = number
  default     = 50
  description = "Snowflake credits per month before the warehouse is suspended."
}

variable "mlflow_tracking_uri" {
  type        = string
  default     = ""
  description = "An existing MLflow tracking server for the flows; empty creates a SageMaker managed one."
}

variable "terraform_state_bucket" {
  type        = string
  description = "Bucket holding this state (the -backend-config bucket): the deploy role may read and lock it."
}
