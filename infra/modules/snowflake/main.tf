locals {
  schemas = toset(["RAW", "FEATURES", "ML", "OPS"])
  # role -> schemas it may write (it reads every schema it writes plus what it needs)
  writer_schemas = {
    LOADER      = ["RAW", "OPS"]
    TRANSFORMER = ["FEATURES", "OPS"]
    ML          = ["ML", "OPS", "FEATURES"]
  }
  reader_schemas = {
    LOADER      = ["RAW", "OPS"]
    TRANSFORMER = ["RAW", "FEATURES", "OPS"]
    ML          = ["RAW", "FEATURES", "ML", "OPS"]
    READER      = ["ML", "FEATURES"]
  }
  write_grants = { for pair in flatten([
    for role, schemas in local.writer_schemas : [for s in schemas : { role = role, schema = s }]
  ]) : "${pair.role}.${pair.schema}" => pair }
  read_grants = { for pair in flatten([
    for role, schemas in local.reader_schemas : [for s in schemas : { role = role, schema = s }]
  ]) : "${pair.role}.${pair.schema}" => pair }
}

# ---------------------------------------------------------------- objects (SYSADMIN)
resource "snowflake_database" "lifeline" {
  provider = snowflake.sysadmin
  name     = var.name_prefix
  comment  = "Lifeline churn and CLV pipeline"
}

resource "snowflake_schema" "this" {
  provider = snowflake.sysadmin
  for_each = local.schemas
  database = snowflake_database.lifeline.name
  name     = each.key
}

resource "snowflake_warehouse" "pipeline" {
  provider            = snowflake.sysadmin
  name                = "${var.name_prefix}_WH"
  warehouse_size      = var.warehouse_size
  auto_suspend        = var.auto_suspend_seconds
  auto_resume         = true
  initially_suspended = true
  resource_monitor    = snowflake_resource_monitor.pipeline.fully_qualified_name
  # A hung query fails on the server, whatever the client does.
  statement_timeout_in_seconds = 3600
}

resource "snowflake_resource_monitor" "pipeline" {
  provider                  = snowflake.sysadmin
  name                      = "${var.name_prefix}_MONITOR"
  credit_quota              = var.monthly_credit_quota
  frequency                 = "MONTHLY"
  start_timestamp           = "IMMEDIATELY"
  notify_triggers           = [80]
  suspend_trigger           = 100
  suspend_immediate_trigger = 110
}

resource "snowflake_storage_integration" "landing" {
  provider                  = snowflake.sysadmin
  name                      = "${var.name_prefix}_S3"
  type                      = "EXTERNAL_STAGE"
  storage_provider          = "S3"
  enabled                   = true
  storage_aws_role_arn      = var.storage_role_arn
  storage_allowed_locations = ["s3://${var.bucket_name}/${var.landing_prefix}"]
}

resource "snowflake_stage" "landing" {
  provider            = snowflake.sysadmin
  name                = "LANDING"
  database            = snowflake_database.lifeline.name
  schema              = snowflake_schema.this["RAW"].name
  url                 = "s3://${var.bucket_name}/${var.landing_prefix}"
  storage_integration = snowflake_storage_integration.landing.name
}

# Internal stage the Snowpark trainer writes its models to (LIFELINE_SNOWPARK_STAGE).
resource "snowflake_stage" "models" {
  provider   = snowflake.sysadmin
  name       = "LIFELINE_MODELS"
  database   = snowflake_database.lifeline.name
  schema     = snowflake_schema.this["ML"].name
  encryption = "TYPE = 'SNOWFLAKE_SSE'"
  comment    = "Models written by the ML.LIFELINE_TRAIN Snowpark procedure."
}

# ---------------------------------------------------------------- roles and user (SECURITYADMIN)
resource "snowflake_account_role" "this" {
  provider = snowflake.securityadmin
  for_each = toset(["LOADER", "TRANSFORMER", "ML", "READER"])
  name     = "${var.name_prefix}_${each.key}"
}

resource "snowflake_service_user" "prefect" {
  provider          = snowflake.securityadmin
  name              = "${var.name_prefix}_PREFECT"
  default_role      = snowflake_account_role.this["ML"].name
  default_warehouse = snowflake_warehouse.pipeline.name
  rsa_public_key    = var.service_user_rsa_public_key
  comment           = "Prefect flows; key-pair auth only"
}

resource "snowflake_grant_account_role" "pipeline_roles_to_ml" {
  provider         = snowflake.securityadmin
  for_each         = toset(["LOADER", "TRANSFORMER"])
  role_name        = snowflake_account_role.this[each.key].name
  parent_role_name = snowflake_account_role.this["ML"].name
}

resource "snowflake_grant_account_role" "ml_to_user" {
  provider  = snowflake.securityadmin
  role_name = snowflake_account_role.this["ML"].name
  user_name = snowflake_service_user.prefect.name
}

resource "snowflake_grant_privileges_to_account_role" "warehouse" {
  provider          = snowflake.securityadmin
  for_each          = snowflake_account_role.this
  account_role_name = each.value.name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "WAREHOUSE"
    object_name = snowflake_warehouse.pipeline.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "database" {
  provider          = snowflake.securityadmin
  for_each          = snowflake_account_role.this
  account_role_name = each.value.name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "DATABASE"
    object_name = snowflake_database.lifeline.name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema_usage" {
  provider          = snowflake.securityadmin
  for_each          = local.read_grants
  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = ["USAGE"]
  on_schema {
    schema_name = snowflake_schema.this[each.value.schema].fully_qualified_name
  }
}

resource "snowflake_grant_privileges_to_account_role" "schema_create" {
  provider          = snowflake.securityadmin
  for_each          = local.write_grants
  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = ["CREATE TABLE", "CREATE VIEW", "CREATE STAGE", "CREATE FILE FORMAT", "CREATE PROCEDURE"]
  on_schema {
    schema_name = snowflake_schema.this[each.value.schema].fully_qualified_name
  }
}

resource "snowflake_grant_privileges_to_account_role" "future_tables_read" {
  provider          = snowflake.securityadmin
  for_each          = local.read_grants
  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = ["SELECT"]
  on_schema_object {
    future {
      object_type_plural = "TABLES"
      in_schema          = snowflake_schema.this[each.value.schema].fully_qualified_name
    }
  }
}

resource "snowflake_grant_privileges_to_account_role" "future_views_read" {
  provider          = snowflake.securityadmin
  for_each          = local.read_grants
  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = ["SELECT"]
  on_schema_object {
    future {
      object_type_plural = "VIEWS"
      in_schema          = snowflake_schema.this[each.value.schema].fully_qualified_name
    }
  }
}

resource "snowflake_grant_privileges_to_account_role" "future_tables_write" {
  provider          = snowflake.securityadmin
  for_each          = local.write_grants
  account_role_name = snowflake_account_role.this[each.value.role].name
  privileges        = ["INSERT", "UPDATE", "DELETE", "TRUNCATE"]
  on_schema_object {
    future {
      object_type_plural = "TABLES"
      in_schema          = snowflake_schema.this[each.value.schema].fully_qualified_name
    }
  }
}

resource "snowflake_grant_privileges_to_account_role" "stage" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["LOADER"].name
  privileges        = ["USAGE"]
  on_schema_object {
    object_type = "STAGE"
    object_name = snowflake_stage.landing.fully_qualified_name
  }
}

resource "snowflake_grant_privileges_to_account_role" "models_stage" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["ML"].name
  privileges        = ["READ", "WRITE"]
  on_schema_object {
    object_type = "STAGE"
    object_name = snowflake_stage.models.fully_qualified_name
  }
}

resource "snowflake_grant_privileges_to_account_role" "integration" {
  provider          = snowflake.securityadmin
  account_role_name = snowflake_account_role.this["LOADER"].name
  privileges        = ["USAGE"]
  on_account_object {
    object_type = "INTEGRATION"
    object_name = snowflake_storage_integration.landing.name
  }
}
