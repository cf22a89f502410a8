"""Where the churn dataset lives in the data lake's buckets.

One place for the key prefixes that the stacks (IAM grants, crawler, job arguments, event rules),
the local tour and the training pipeline's default input all agree on.
"""

RAW_DATASET_PREFIX = "churn/"  # raw bucket: CSV exports as delivered
CURATED_DATASET_PREFIX = "churn/"  # curated bucket: Parquet partitioned by signup year and month
REJECTS_PREFIX = "rejects/churn/"  # curated bucket: one JSON line per rejected raw row
