# mypy: ignore-errors
"""Level 0 churn ETL, run as an AWS Glue 5.0 (Spark 3.5, Python 3.11) job.

Raw customer CSV in, curated Parquet and a rejects feed out. Every decision about what a valid row is
lives in churn_transform; this script only moves data through Spark, mirroring
churn_transform.transform_rows so the unit-tested semantics are what runs in production:

1. read every CSV under RAW_PATH by header name, all columns as strings;
2. clean each row, numbering rows so duplicates resolve to the last occurrence;
3. write clean records as Parquet partitioned by PARTITION_KEYS, replacing only the partitions present in
   this run's output;
4. write rejections as JSON lines under REJECTS_PATH, replacing the previous run's;
5. write every curated customer's engineered features (churn_features.engineer, the one transformation
   training and serving share) into the FEATURES_GROUP feature group and its churn label into LABELS_GROUP,
   all with this run's start as event time (PutRecord: the online store at once, the offline store within
   minutes), unless FEATURE_STORE is "skip";
6. log the counts, which satisfy curated + rejected + duplicates == input rows.

Job arguments (all required): --JOB_NAME, --RAW_PATH, --CURATED_PATH, --REJECTS_PATH (S3 URIs),
--FEATURES_GROUP, --LABELS_GROUP (feature group names), --FEATURE_STORE ("write", the deployed default, or
"skip": a run on data that is not the business's, such as `make smoke`'s sample, must not put its records
into the environment's feature groups, whose offline store keeps every row and feeds training).
"""

import sys
from datetime import UTC, datetime

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from botocore.config import Config

# Glue ships churn_transform.py and churn_features.py via --extra-py-files, which puts them next to this
# script on the driver's and executors' sys.path as top-level modules, not as pipelines.glue.churn_transform.
from churn_features import CHURN_LABELS, CUSTOMER_FEATURES, LABEL, engineer, event_time_of, to_record
from churn_transform import (
    PARTITION_KEYS,
    REJECTION_SCHEMA_FIELDS,
    SPARK_SCHEMA_FIELDS,
    CleanRecord,
    Rejection,
    clean_row,
    record_to_dict,
    rejection_to_dict,
)
from pyspark.context import SparkContext
from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

_SPARK_TYPES = {
    "bigint": LongType,
    "boolean": BooleanType,
    "date": DateType,
    "double": DoubleType,
    "int": IntegerType,
    "string": StringType,
}
# Enough to diagnose a bad export from the job log without opening the rejects feed.
_REJECTIONS_TO_LOG = 20
FEATURE_STORE_MODES = ("write", "skip")


def _struct(schema_fields, *, nullable):
    return StructType([StructField(name, _SPARK_TYPES[type_name](), nullable) for name, type_name in schema_fields])


def _later(first, second):
    """reduceByKey combiner over (row_number, record): keep the later row, as transform_rows does."""
    return first if first[0] > second[0] else second


def _put_features(records, features_group, labels_group, event_time):
    """mapPartitions body: PutRecord each customer's features and label; yields how many were written.

    One client per partition (clients are not picklable); standard retry mode absorbs throttling of the
    on-demand feature groups during a burst.
    """
    client = boto3.client("sagemaker-featurestore-runtime", config=Config(retries={"mode": "standard"}))
    written = 0
    for record in records:
        customer = record.customer_id
        client.put_record(
            FeatureGroupName=features_group,
            Record=to_record(CUSTOMER_FEATURES, customer, event_time, engineer(record)),
        )
        client.put_record(
            FeatureGroupName=labels_group,
            Record=to_record(CHURN_LABELS, customer, event_time, {LABEL: int(record.churned)}),
        )
        written += 1
    yield written


def main():
    args = getResolvedOptions(
        sys.argv,
        ["JOB_NAME", "RAW_PATH", "CURATED_PATH", "REJECTS_PATH", "FEATURES_GROUP", "LABELS_GROUP", "FEATURE_STORE"],
    )
    if args["FEATURE_STORE"] not in FEATURE_STORE_MODES:
        # Checked before any work: a typo must not silently skip (or silently perform) ingestion.
        raise ValueError(f"--FEATURE_STORE must be 'write' or 'skip', got {args['FEATURE_STORE'][:40]!r}")
    # One event time per run: every feature and label of this run describes the same moment, which is what
    # the training set's point-in-time join compares.
    event_time = event_time_of(datetime.now(UTC))
    glue_context = GlueContext(SparkContext.getOrCreate())
    spark = glue_context.spark_session
    logger = glue_context.get_logger()
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)

    # No schema and no inference: columns are matched by header name (a reordered export still works) and
    # every cell stays a string, so a bad cell reaches clean_row and gets named in a rejection instead of
    # being nulled by Spark's parser.
    raw = spark.read.option("header", "true").option("inferSchema", "false").csv(args["RAW_PATH"])

    # zipWithIndex numbers rows in read order (file by file, top to bottom within a file). That order is
    # what "last occurrence" means for dedupe and what row_number means in a rejection.
    outcomes = (
        raw.rdd.zipWithIndex()
        .map(lambda pair: (pair[1] + 1, clean_row(pair[0].asDict(), row_number=pair[1] + 1)))
        .cache()
    )
    clean = outcomes.filter(lambda numbered: isinstance(numbered[1], CleanRecord))
    rejections = outcomes.values().filter(lambda outcome: isinstance(outcome, Rejection)).cache()
    latest = (
        clean.map(lambda numbered: (numbered[1].customer_id, numbered))
        .reduceByKey(_later)
        .map(lambda keyed: keyed[1][1])
        .cache()
    )
    curated = latest.map(record_to_dict).cache()

    (
        spark.createDataFrame(curated, schema=_struct(SPARK_SCHEMA_FIELDS, nullable=False))
        .write.mode("overwrite")
        # Dynamic mode replaces only the signup-month partitions this run writes. Static mode would wipe
        # every other partition under CURATED_PATH, including history that is no longer in the raw export.
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*PARTITION_KEYS)
        .parquet(args["CURATED_PATH"])
    )
    (
        spark.createDataFrame(rejections.map(rejection_to_dict), schema=_struct(REJECTION_SCHEMA_FIELDS, nullable=True))
        # Rejects are expected to be a handful of rows; one file is easier to inspect than one per task.
        .coalesce(1)
        .write.mode("overwrite")
        .json(args["REJECTS_PATH"])
    )

    features_group, labels_group = args["FEATURES_GROUP"], args["LABELS_GROUP"]
    ingest = args["FEATURE_STORE"] == "write"
    ingested = (
        sum(
            latest.mapPartitions(
                lambda records: _put_features(records, features_group, labels_group, event_time)
            ).collect()
        )
        if ingest
        else 0
    )

    input_rows = outcomes.count()
    rejected = rejections.count()
    curated_records = curated.count()
    duplicates = input_rows - rejected - curated_records
    logger.info(
        f"churn ETL finished: input_rows={input_rows} curated_records={curated_records} "
        f"rejected={rejected} duplicates={duplicates}"
    )
    if ingest:
        logger.info(
            f"feature store: ingested={ingested} records into {features_group} and {labels_group} "
            f"at event_time={event_time}"
        )
    else:
        logger.info("feature store: skipped (--FEATURE_STORE skip): nothing written to the feature groups")
    for rejection in rejections.take(_REJECTIONS_TO_LOG):
        logger.warn(f"rejected {rejection}")

    job.commit()


if __name__ == "__main__":
    main()
