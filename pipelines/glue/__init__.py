"""Glue ETL jobs. Each job is an entry script plus plain-Python logic that is unit-tested without Spark."""
