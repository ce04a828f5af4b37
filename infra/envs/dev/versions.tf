terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    snowflake = {
      source  = "snowflakedb/snowflake"
      version = "~> 2.3"
    }
  }
  # State bucket passed at init: terraform init -backend-config="bucket=..."
  backend "s3" {
    key          = "lifeline/dev/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = local.tags
  }
}

# Key-pair (JWT) auth; the private key comes from SNOWFLAKE_PRIVATE_KEY in the environment.
provider "snowflake" {
  alias             = "sysadmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.snowflake_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SYSADMIN"
  # snowflake_stage and snowflake_storage_integration are preview resources in provider 2.x.
  preview_features_enabled = ["snowflake_stage_resource", "snowflake_storage_integration_resource"]
}

provider "snowflake" {
  alias             = "securityadmin"
  organization_name = var.snowflake_organization_name
  account_name      = var.snowflake_account_name
  user              = var.snowflake_user
  authenticator     = "SNOWFLAKE_JWT"
  role              = "SECURITYADMIN"
}
