output "role_arn" {
  description = "ARN of the role the storage integration assumes."
  value       = aws_iam_role.snowflake.arn
}
