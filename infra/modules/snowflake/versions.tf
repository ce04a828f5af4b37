terraform {
  required_version = ">= 1.6"
  required_providers {
    snowflake = {
      source                = "snowflakedb/snowflake"
      version               = "~> 2.3"
      configuration_aliases = [snowflake.sysadmin, snowflake.securityadmin]
    }
  }
}
