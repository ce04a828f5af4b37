variable "name_prefix" {
  type        = string
  description = "Upper-case prefix for Snowflake objects, e.g. LIFELINE_DEV."
}

variable "warehouse_size" {
  type        = string
  default     = "XSMALL"
  description = "Size of the pipeline warehouse."
}

variable "auto_suspend_seconds" {
  type        = number
  default     = 60
  description = "Idle seconds before the warehouse suspends (credits stop)."
}

variable "monthly_credit_quota" {
  type        = number
  default     = 100
  description = "Credits per month before the resource monitor suspends the warehouse."
}

variable "service_user_rsa_public_key" {
  type        = string
  description = "RSA public key (PEM body) of the Prefect service user; the private key stays in a Prefect block."
}

variable "storage_role_arn" {
  type        = string
  description = "ARN of the AWS role the storage integration assumes (created by the integration module)."
}

variable "bucket_name" {
  type        = string
  description = "S3 bucket holding landing files."
}

variable "landing_prefix" {
  type        = string
  default     = "landing/"
  description = "Prefix of the bucket the external stage reads."
}
