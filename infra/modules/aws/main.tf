data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  partition   = data.aws_partition.current.partition
  bucket_name = "${var.name_prefix}-data-${local.account_id}"
}

# ---------------------------------------------------------------- KMS
data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:KMS key policies must name the key itself as "*"; access is scoped by principal
  #checkov:skip=CKV_AWS_111:KMS key policies must name the key itself as "*"; writes are limited to the account root
  #checkov:skip=CKV_AWS_356:KMS key policies must name the key itself as "*"
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "data" {
  description             = "${var.name_prefix} data bucket and SageMaker artifacts"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name_prefix}-data"
  target_key_id = aws_kms_key.data.key_id
}

# ---------------------------------------------------------------- S3 data bucket
resource "aws_s3_bucket" "data" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a DR choice per environment; versioning covers recovery
  #checkov:skip=CKV2_AWS_62:No event consumers yet; ingestion runs on a schedule
  #checkov:skip=CKV_AWS_18:Access logs go to the organisation's CloudTrail data events, not per-bucket logging
  bucket = local.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.data.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    id     = "expire-landing-and-exports"
    status = "Enabled"
    filter {
      prefix = "landing/"
    }
    expiration {
      days = var.data_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
  rule {
    id     = "noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.data.arn,
      "${aws_s3_bucket.data.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "data" {
  bucket = aws_s3_bucket.data.id
  policy = data.aws_iam_policy_document.bucket.json
}

# ---------------------------------------------------------------- flow image
# One image for the ECS flows and the SageMaker training jobs (deployments/Dockerfile): the
# models train and load with the same locked dependencies. Tags are commit SHAs.
resource "aws_ecr_repository" "flows" {
  name                 = "${var.name_prefix}-flows"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.data.arn
  }
  tags = var.tags
}

# ---------------------------------------------------------------- SageMaker execution role
data "aws_iam_policy_document" "sagemaker_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name               = "${var.name_prefix}-sagemaker"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "sagemaker" {
  # The keys the trainer uses (tasks/trainers/sagemaker.py JobSpec): everything under the
  # LIFELINE_S3_PREFIX the flows use, never the bucket root.
  statement {
    sid       = "ListJobPrefixes"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.s3_prefix}/training/*", "${var.s3_prefix}/models/*", "${var.s3_prefix}/checkpoints/*"]
    }
  }
  statement {
    sid       = "ReadTrainingData"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.data.arn}/${var.s3_prefix}/training/*"]
  }
  statement {
    sid       = "WriteModelsAndCheckpoints"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.data.arn}/${var.s3_prefix}/models/*", "${aws_s3_bucket.data.arn}/${var.s3_prefix}/checkpoints/*"]
  }
  statement {
    sid       = "PullTheFlowImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.flows.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the API has no resource-level scope
  }
  statement {
    sid       = "UseDataKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.data.arn]
  }
  statement {
    sid = "TrainingLogs"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [
      "arn:${local.partition}:logs:${data.aws_region.current.name}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs",
      "arn:${local.partition}:logs:${data.aws_region.current.name}:${local.account_id}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*",
    ]
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "${var.name_prefix}-sagemaker-scoped"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}

# ---------------------------------------------------------------- GitHub OIDC deploy role
resource "aws_iam_openid_connect_provider" "github" {
  count           = var.github_oidc_provider_arn == null ? 1 : 0
  url             = "https://token.actions.githubusercontent.com"
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1"]
  tags            = var.tags
}

locals {
  github_oidc_arn = coalesce(var.github_oidc_provider_arn, try(aws_iam_openid_connect_provider.github[0].arn, null))
}

data "aws_iam_policy_document" "github_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:*"]
    }
  }
}

resource "aws_iam_role" "github_deploy" {
  name               = "${var.name_prefix}-github-deploy"
  assume_role_policy = data.aws_iam_policy_document.github_trust.json
  tags               = var.tags
}

# What `deploy.yml` does with this role: terraform init/plan/apply of this whole stack (its
# state in the state bucket), then push the flow image. Every right is scoped to this
# environment's names (var.name_prefix) where the API allows a resource scope.
locals {
  own_roles = "arn:${local.partition}:iam::${local.account_id}:role/${var.name_prefix}-*"
  own_keys  = "arn:${local.partition}:kms:${data.aws_region.current.name}:${local.account_id}:key/*"
}

data "aws_iam_policy_document" "github_deploy" {
  #checkov:skip=CKV_AWS_356:kms:CreateKey, kms:ListAliases and ecr:GetAuthorizationToken have no resource scope
  #checkov:skip=CKV_AWS_111:Terraform writes only this environment's roles, keys, bucket and repository
  #checkov:skip=CKV_AWS_109:the deploy role manages the policies of this environment's own resources
  #checkov:skip=CKV_AWS_110:the deploy role updates this environment's roles (their names are scoped)
  statement {
    sid       = "TerraformStateList"
    actions   = ["s3:ListBucket"]
    resources = ["arn:${local.partition}:s3:::${var.terraform_state_bucket}"]
  }
  statement {
    sid       = "TerraformStateAndLock"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["arn:${local.partition}:s3:::${var.terraform_state_bucket}/${var.terraform_state_prefix}*"]
  }
  statement {
    sid = "ManageOwnRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListInstanceProfilesForRole",
      "iam:ListRolePolicies",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
    ]
    resources = [local.own_roles]
  }
  statement {
    sid = "ManageGitHubOidcProvider"
    actions = [
      "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider",
      "iam:GetOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = ["arn:${local.partition}:iam::${local.account_id}:oidc-provider/token.actions.githubusercontent.com"]
  }
  statement {
    sid       = "CreateKeysAndListAliases"
    actions   = ["kms:CreateKey", "kms:ListAliases"]
    resources = ["*"] # no resource-level scope for these two
  }
  statement {
    sid = "ManageKeysInThisRegion"
    actions = [
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = [
      local.own_keys,
      "arn:${local.partition}:kms:${data.aws_region.current.name}:${local.account_id}:alias/${var.name_prefix}-*",
    ]
  }
  statement {
    sid = "ManageOwnBucket"
    actions = [
      "s3:CreateBucket",
      "s3:DeleteBucket",
      "s3:DeleteBucketPolicy",
      "s3:GetAccelerateConfiguration",
      "s3:GetBucket*",
      "s3:GetEncryptionConfiguration",
      "s3:GetLifecycleConfiguration",
      "s3:GetReplicationConfiguration",
      "s3:ListBucket",
      "s3:PutBucket*",
      "s3:PutEncryptionConfiguration",
      "s3:PutLifecycleConfiguration",
    ]
    resources = ["arn:${local.partition}:s3:::${var.name_prefix}-*"]
  }
  statement {
    sid = "ManageOwnRepository"
    actions = [
      "ecr:CreateRepository",
      "ecr:DeleteRepository",
      "ecr:DescribeRepositories",
      "ecr:GetLifecyclePolicy",
      "ecr:GetRepositoryPolicy",
      "ecr:ListTagsForResource",
      "ecr:PutImageScanningConfiguration",
      "ecr:PutImageTagMutability",
      "ecr:TagResource",
      "ecr:UntagResource",
    ]
    resources = ["arn:${local.partition}:ecr:${data.aws_region.current.name}:${local.account_id}:repository/${var.name_prefix}-*"]
  }
  statement {
    sid = "ManageOwnMlflowServer"
    actions = [
      "sagemaker:AddTags",
      "sagemaker:CreateMlflowTrackingServer",
      "sagemaker:DeleteMlflowTrackingServer",
      "sagemaker:DeleteTags",
      "sagemaker:DescribeMlflowTrackingServer",
      "sagemaker:ListTags",
      "sagemaker:UpdateMlflowTrackingServer",
    ]
    resources = ["arn:${local.partition}:sagemaker:${data.aws_region.current.name}:${local.account_id}:mlflow-tracking-server/${var.name_prefix}-*"]
  }
  statement {
    sid = "PushTheFlowImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [aws_ecr_repository.flows.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the API has no resource-level scope
  }
  statement {
    sid       = "PassOnlyTheSageMakerRole"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.sagemaker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "github_deploy" {
  name   = "${var.name_prefix}-github-deploy"
  role   = aws_iam_role.github_deploy.id
  policy = data.aws_iam_policy_document.github_deploy.json
}

# ---------------------------------------------------------------- optional managed MLflow
resource "aws_sagemaker_mlflow_tracking_server" "registry" {
  count                = var.create_mlflow_server ? 1 : 0
  tracking_server_name = "${var.name_prefix}-mlflow"
  role_arn             = aws_iam_role.sagemaker.arn
  artifact_store_uri   = "s3://${aws_s3_bucket.data.bucket}/mlflow"
  tracking_server_size = "Small"
  tags                 = var.tags
}
