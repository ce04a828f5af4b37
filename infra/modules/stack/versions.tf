terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    snowflake = {
      source                = "snowflakedb/snowflake"
      version               = "~> 2.3"
      configuration_aliases = [snowflake.sysadmin, snowflake.securityadmin]
    }
  }
}
