module "lifeline" {
  source = "../../modules/stack"
  providers = {
    snowflake.sysadmin      = snowflake.sysadmin
    snowflake.securityadmin = snowflake.securityadmin
  }
  env                         = "dev"
  github_repository           = var.github_repository
  prefect_user_rsa_public_key = var.prefect_user_rsa_public_key
  monthly_credit_quota        = var.monthly_credit_quota
  mlflow_tracking_uri         = var.mlflow_tracking_uri
  terraform_state_bucket      = var.terraform_state_bucket
}
