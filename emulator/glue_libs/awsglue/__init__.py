"""Stand-in for AWS Glue's ``awsglue`` library: the subset a job script calls (see ../README.md)."""
