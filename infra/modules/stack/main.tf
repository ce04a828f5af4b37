data "aws_caller_identity" "current" {}

locals {
  name_prefix       = "lifeline-${var.env}"
  storage_role_name = "${local.name_prefix}-snowflake-storage"
  # Built from the name so the Snowflake integration and the AWS role need no cycle.
  storage_role_arn = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:role/${local.storage_role_name}"
  tags             = { project = "lifeline", env = var.env }
}

module "aws" {
  source            = "../aws"
  name_prefix       = local.name_prefix
  github_repository = var.github_repository
  # The deploy role plans and applies this stack: it reads and locks the state.
  terraform_state_bucket = var.terraform_state_bucket
  terraform_state_prefix = "lifeline/${var.env}/" # the backend key in envs/<env>/versions.tf
  # The registry every worker shares: without one each worker's champion is its own.
  create_mlflow_server = var.mlflow_tracking_uri == ""
  tags                 = local.tags
}

module "snowflake" {
  source = "../snowflake"
  providers = {
    snowflake.sysadmin      = snowflake.sysadmin
    snowflake.securityadmin = snowflake.securityadmin
  }
  name_prefix                 = upper(replace(local.name_prefix, "-", "_"))
  service_user_rsa_public_key = var.prefect_user_rsa_public_key
  storage_role_arn            = local.storage_role_arn
  bucket_name                 = module.aws.bucket_name
  monthly_credit_quota        = var.monthly_credit_quota
}

module "integration" {
  source                 = "../integration"
  role_name              = local.storage_role_name
  bucket_arn             = module.aws.bucket_arn
  kms_key_arn            = module.aws.kms_key_arn
  snowflake_iam_user_arn = module.snowflake.storage_aws_iam_user_arn
  snowflake_external_id  = module.snowflake.storage_aws_external_id
  tags                   = local.tags
}
