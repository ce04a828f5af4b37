variable "env" {
  type        = string
  description = "Environment name (dev, prod): part of every resource name."
}

variable "github_repository" {
  type        = string
  description = "owner/name of the repository whose workflows may deploy."
}

variable "prefect_user_rsa_public_key" {
  type        = string
  description = "RSA public key of the Prefect service user."
}

variable "monthly_credit_quota" {
  type        = number
  description = "Snowflake credits per month before the warehouse is suspended."
}

variable "mlflow_tracking_uri" {
  type        = string
  default     = ""
  description = "An existing MLflow tracking server for the flows; empty creates a SageMaker managed one."
}

variable "terraform_state_bucket" {
  type        = string
  description = "Bucket holding Terraform's state: the GitHub deploy role may read and lock it."
}
