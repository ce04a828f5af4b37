variable "role_name" {
  type        = string
  description = "Name of the IAM role Snowflake's storage integration assumes."
}

variable "bucket_arn" {
  type        = string
  description = "ARN of the data bucket."
}

variable "landing_prefix" {
  type        = string
  default     = "landing/"
  description = "Prefix Snowflake may read."
}

variable "kms_key_arn" {
  type        = string
  description = "KMS key that encrypts the bucket."
}

variable "snowflake_iam_user_arn" {
  type        = string
  description = "STORAGE_AWS_IAM_USER_ARN of the Snowflake storage integration."
}

variable "snowflake_external_id" {
  type        = string
  description = "STORAGE_AWS_EXTERNAL_ID of the Snowflake storage integration."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags added to every resource."
}
