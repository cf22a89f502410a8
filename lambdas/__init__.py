"""Runtime code of the Lambda functions: one folder per function, never importing aws_cdk."""
